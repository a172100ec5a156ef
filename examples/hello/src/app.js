// A minimal CCF JS app: one private map of greetings, written and read by name.
// It uses only the `ccf` global, so it runs unchanged on CCF and on Confide.
const greetings = () => ccf.kv["greetings"];

export function putGreeting(request) {
  const body = request.body.json();
  if (typeof body?.text !== "string") {
    return { statusCode: 400, body: { error: { code: "InvalidInput", message: "expected a JSON body {\"text\": string}" } } };
  }
  greetings().set(ccf.strToBuf(request.params.name), ccf.strToBuf(body.text));
  return { statusCode: 204 };
}

export function getGreeting(request) {
  const text = greetings().get(ccf.strToBuf(request.params.name));
  if (text === undefined) {
    return { statusCode: 404, body: { error: { code: "ResourceNotFound", message: `No greeting for ${request.params.name}` } } };
  }
  return { body: { name: request.params.name, text: ccf.bufToStr(text) } };
}

// The banking app's own unit tests, written as an app author would with @confide/testing: the
// built bundle (dist/bundle.json) on an in-process service, calls as the bank (a member) and as
// account holders (users), a proposal adding a user, and the KV read directly.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { TestService } from "../src/index.ts";

const BUNDLE = JSON.parse(readFileSync(new URL("../../../apps/banking/dist/bundle.json", import.meta.url), "utf8"));

let service: TestService;

before(async () => {
  service = await TestService.create({ bundle: BUNDLE, members: 2, users: 2 });
});

after(() => service.close());

describe("the banking app on @confide/testing", () => {
  it("a bank opens accounts and deposits; a user transfers; balances and the KV agree", async () => {
    const [bank] = service.members;
    const [alice, bob] = service.users;
    for (const user of [alice!, bob!]) assert.equal((await service.as(bank).put(`/app/account/${user.id}/checking`)).status, 204);
    assert.equal((await service.as(bank).post(`/app/deposit/${alice!.id}/checking`, { value: 100 })).status, 204);
    const transfer = await service.as(alice).post("/app/transfer/checking", { value: 40, user_id_to: bob!.id, account_name_to: "checking" });
    assert.equal(transfer.status, 204, transfer.text);
    assert.match(transfer.headers["x-ms-ccf-transaction-id"]!, /^\d+\.\d+$/);
    assert.deepEqual((await service.as(alice).get("/app/balance/checking")).json, { balance: 60 });
    assert.deepEqual((await service.as(bob).get("/app/balance/checking")).json, { balance: 40 });
    assert.equal(service.kv("banking.balances").size, 2);
  });

  it("refuses an overdraft with the app's error and changes nothing", async () => {
    const [alice, bob] = service.users;
    const refused = await service.as(alice).post("/app/transfer/checking", { value: 1000, user_id_to: bob!.id, account_name_to: "checking" });
    assert.equal(refused.status, 400);
    assert.equal((refused.json as { error: { code: string } }).error.code, "InsufficientFunds");
    assert.deepEqual((await service.as(alice).get("/app/balance/checking")).json, { balance: 60 });
  });

  it("authenticates as CCF does: a user's endpoint refuses a member and an anonymous caller", async () => {
    assert.equal((await service.as(service.members[0]).get("/app/balance/checking")).status, 401);
    assert.equal((await service.as().get("/app/balance/checking")).status, 401);
  });

  it("a user added by proposal (both members vote) can then use the app", async () => {
    const carol = await TestService.identity();
    await service.passProposal([{ name: "set_user", args: { cert: carol.certPem } }]);
    assert.ok(service.kv("public:ccf.gov.users.certs").get(carol.id), "recorded by governance");
    assert.equal((await service.as(service.members[0]).put(`/app/account/${carol.id}/savings`)).status, 204);
    assert.deepEqual((await service.as(carol).get("/app/balance/savings")).json, { balance: 0 });
    await service.committed();
  });
});

/*
 * Confide's binding to QuickJS, compiled with it to one standalone WebAssembly
 * module (see build.sh). The node (packages/node/src/runtime/engine.ts) holds
 * one instance per app interpreter: one QuickJS runtime and context.
 *
 * Values cross as pointers to heap slots holding a JSValue ("refs"): the node
 * owns a ref it gets from a cq_* function and frees it with cq_free. A
 * function that fails returns NULL (or -1) and leaves the exception pending:
 * cq_take_exception hands it over.
 *
 * The node supplies four imports (module "confide"): the interrupt check, the
 * module name normaliser, the module loader (source or bytecode), and the
 * dispatcher of host functions.
 */
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <emscripten.h>
#include "quickjs.h"

#define EXPORT EMSCRIPTEN_KEEPALIVE
#define IMPORT(name) __attribute__((import_module("confide"), import_name(name)))

IMPORT("interrupt") int host_interrupt(void);
/* A malloc'd, NUL-terminated module name, or NULL (exception pending). */
IMPORT("normalize") char *host_normalize(const char *base, const char *name);
/* Writes a malloc'd buffer and its length; returns MODULE_SOURCE (NUL-terminated) or MODULE_BYTECODE, or 0 (exception pending). */
IMPORT("load") int host_load(const char *name, uint8_t **out, size_t *out_len);
/* A ref the binding takes over, NULL for undefined, or HOST_EXCEPTION (exception pending). */
IMPORT("call") JSValue *host_call(int function_id, int argc, JSValueConst *argv);

enum { MODULE_SOURCE = 1, MODULE_BYTECODE = 2 };
#define HOST_EXCEPTION ((JSValue *)1)

/* typeof, as small numbers (cq_type). */
enum { T_UNDEFINED, T_NULL, T_BOOLEAN, T_NUMBER, T_STRING, T_SYMBOL, T_BIGINT, T_FUNCTION, T_OBJECT };

static JSValue *new_ref(JSValue value) {
  JSValue *ref = malloc(sizeof(JSValue));
  if (ref) *ref = value;
  return ref;
}

/* A ref for a result, or NULL when it is an exception (left pending). */
static JSValue *result_ref(JSContext *ctx, JSValue value) {
  if (JS_IsException(value)) return NULL;
  JSValue *ref = new_ref(value);
  if (!ref) {
    JS_FreeValue(ctx, value);
    JS_ThrowOutOfMemory(ctx);
  }
  return ref;
}

static int interrupt_handler(JSRuntime *rt, void *opaque) {
  return host_interrupt();
}

static char *normalize_module(JSContext *ctx, const char *base, const char *name, void *opaque) {
  char *normalized = host_normalize(base, name);
  if (!normalized) return NULL;
  /* QuickJS frees the name with js_free. */
  char *copy = js_strdup(ctx, normalized);
  free(normalized);
  return copy;
}

static JSModuleDef *load_module(JSContext *ctx, const char *name, void *opaque) {
  uint8_t *data = NULL;
  size_t length = 0;
  int kind = host_load(name, &data, &length);
  if (kind == 0) return NULL;
  JSValue module = kind == MODULE_BYTECODE
    ? JS_ReadObject(ctx, data, length, JS_READ_OBJ_BYTECODE)
    : JS_Eval(ctx, (const char *)data, length, name, JS_EVAL_TYPE_MODULE | JS_EVAL_FLAG_COMPILE_ONLY);
  free(data);
  if (JS_IsException(module)) return NULL;
  if (JS_VALUE_GET_TAG(module) != JS_TAG_MODULE) {
    JS_FreeValue(ctx, module);
    JS_ThrowTypeError(ctx, "bytecode of module '%s' does not hold a module", name);
    return NULL;
  }
  /* The runtime's module list holds the module: this value is an extra reference. */
  JSModuleDef *def = JS_VALUE_GET_PTR(module);
  JS_FreeValue(ctx, module);
  return def;
}

/*
 * QuickJS enforces JS_SetMemoryLimit by counting each block's usable size, but
 * its emscripten build counts none (only a fixed overhead per block), which let
 * an app grow several times past max_heap_bytes. These allocator functions
 * count what emscripten's malloc really hands out.
 */
#define BLOCK_OVERHEAD 8

/*
 * Set when the limit refuses a block. At the limit QuickJS may not even get the
 * memory for its "out of memory" error and throws null instead: the node reads
 * this flag to tell that apart (cq_take_limit_refused).
 */
static int limit_refused;

static int over_limit(JSMallocState *s, size_t new_size) {
  if (new_size <= s->malloc_limit) return 0;
  limit_refused = 1;
  return 1;
}

static size_t block_size(const void *ptr) {
  return malloc_usable_size((void *)ptr);
}

static void *counted_malloc(JSMallocState *s, size_t size) {
  if (over_limit(s, s->malloc_size + size)) return NULL;
  void *ptr = malloc(size);
  if (!ptr) return NULL;
  s->malloc_count++;
  s->malloc_size += block_size(ptr) + BLOCK_OVERHEAD;
  return ptr;
}

static void counted_free(JSMallocState *s, void *ptr) {
  if (!ptr) return;
  s->malloc_count--;
  s->malloc_size -= block_size(ptr) + BLOCK_OVERHEAD;
  free(ptr);
}

static void *counted_realloc(JSMallocState *s, void *ptr, size_t size) {
  if (!ptr) return size == 0 ? NULL : counted_malloc(s, size);
  if (size == 0) {
    counted_free(s, ptr);
    return NULL;
  }
  size_t old_size = block_size(ptr);
  if (over_limit(s, s->malloc_size - old_size + size)) return NULL;
  void *moved = realloc(ptr, size);
  if (!moved) return NULL;
  s->malloc_size = s->malloc_size - old_size + block_size(moved);
  return moved;
}

static const JSMallocFunctions counted_allocator = { counted_malloc, counted_free, counted_realloc, block_size };

EXPORT JSContext *cq_new_context(void) {
  JSRuntime *rt = JS_NewRuntime2(&counted_allocator, NULL);
  if (!rt) return NULL;
  JSContext *ctx = JS_NewContext(rt);
  if (!ctx) {
    JS_FreeRuntime(rt);
    return NULL;
  }
  JS_SetInterruptHandler(rt, interrupt_handler, NULL);
  JS_SetModuleLoaderFunc(rt, normalize_module, load_module, NULL);
  return ctx;
}

/* Whether the heap limit refused memory since the last call (and clears it). */
EXPORT int cq_take_limit_refused(void) {
  int refused = limit_refused;
  limit_refused = 0;
  return refused;
}

EXPORT void cq_set_limits(JSContext *ctx, size_t heap_bytes, size_t stack_bytes) {
  JSRuntime *rt = JS_GetRuntime(ctx);
  JS_SetMemoryLimit(rt, heap_bytes);
  JS_SetMaxStackSize(rt, stack_bytes);
}

/* Ref constants, never freed: 0 undefined, 1 null, 2 false, 3 true. */
static JSValue constants[4];
EXPORT JSValue *cq_constant(int which) {
  constants[0] = JS_UNDEFINED;
  constants[1] = JS_NULL;
  constants[2] = JS_FALSE;
  constants[3] = JS_TRUE;
  return &constants[which];
}

EXPORT void cq_free(JSContext *ctx, JSValue *ref) {
  JS_FreeValue(ctx, *ref);
  free(ref);
}

EXPORT JSValue *cq_dup(JSContext *ctx, JSValueConst *ref) {
  return result_ref(ctx, JS_DupValue(ctx, *ref));
}

EXPORT JSValue *cq_take_exception(JSContext *ctx) {
  return new_ref(JS_GetException(ctx));
}

/* Evaluates a script (source NUL-terminated): its completion value. */
EXPORT JSValue *cq_eval_script(JSContext *ctx, const char *source, size_t length, const char *name) {
  return result_ref(ctx, JS_Eval(ctx, source, length, name, JS_EVAL_TYPE_GLOBAL | JS_EVAL_FLAG_STRICT));
}

/*
 * Evaluates a module (source NUL-terminated) and its imports: its namespace.
 * Module evaluation yields a promise; jobs run until it settles (top-level
 * await), each under the interrupt handler.
 */
EXPORT JSValue *cq_eval_module(JSContext *ctx, const char *source, size_t length, const char *name) {
  JSValue module = JS_Eval(ctx, source, length, name, JS_EVAL_TYPE_MODULE | JS_EVAL_FLAG_COMPILE_ONLY);
  if (JS_IsException(module)) return NULL;
  JSModuleDef *def = JS_VALUE_GET_PTR(module);
  JSValue promise = JS_EvalFunction(ctx, module);
  if (JS_IsException(promise)) return NULL;
  JSContext *job_ctx;
  while (JS_PromiseState(ctx, promise) == JS_PROMISE_PENDING) {
    int ran = JS_ExecutePendingJob(JS_GetRuntime(ctx), &job_ctx);
    if (ran < 0) {
      JS_FreeValue(ctx, promise);
      return NULL;
    }
    if (ran == 0) break;
  }
  JSPromiseStateEnum state = JS_PromiseState(ctx, promise);
  if (state != JS_PROMISE_FULFILLED) {
    JSValue reason = state == JS_PROMISE_REJECTED ? JS_PromiseResult(ctx, promise) : JS_UNDEFINED;
    JS_FreeValue(ctx, promise);
    if (state == JS_PROMISE_REJECTED) JS_Throw(ctx, reason);
    else JS_ThrowTypeError(ctx, "module '%s' awaits something that never settles", name);
    return NULL;
  }
  JS_FreeValue(ctx, promise);
  return result_ref(ctx, JS_GetModuleNamespace(ctx, def));
}

/*
 * Compiles a module without running it: QuickJS bytecode (freed with
 * cq_free_bytes) that load_module reads back in an engine of the same build.
 */
EXPORT uint8_t *cq_compile_module(JSContext *ctx, const char *source, size_t length, const char *name, size_t *out_length) {
  JSValue module = JS_Eval(ctx, source, length, name, JS_EVAL_TYPE_MODULE | JS_EVAL_FLAG_COMPILE_ONLY);
  if (JS_IsException(module)) return NULL;
  uint8_t *bytecode = JS_WriteObject(ctx, out_length, module, JS_WRITE_OBJ_BYTECODE);
  JS_FreeValue(ctx, module);
  return bytecode;
}

EXPORT void cq_free_bytes(JSContext *ctx, uint8_t *bytes) {
  js_free(ctx, bytes);
}

EXPORT JSValue *cq_call(JSContext *ctx, JSValueConst *fn, JSValueConst *this_ref, int argc, JSValueConst **argv_refs) {
  JSValueConst argv[argc > 0 ? argc : 1];
  for (int i = 0; i < argc; i++) argv[i] = *argv_refs[i];
  return result_ref(ctx, JS_Call(ctx, *fn, *this_ref, argc, argv));
}

EXPORT int cq_type(JSContext *ctx, JSValueConst *ref) {
  JSValueConst value = *ref;
  if (JS_IsUndefined(value)) return T_UNDEFINED;
  if (JS_IsNull(value)) return T_NULL;
  if (JS_IsBool(value)) return T_BOOLEAN;
  if (JS_IsNumber(value)) return T_NUMBER;
  if (JS_IsString(value)) return T_STRING;
  if (JS_IsSymbol(value)) return T_SYMBOL;
  if (JS_IsBigInt(ctx, value)) return T_BIGINT;
  if (JS_IsFunction(ctx, value)) return T_FUNCTION;
  return T_OBJECT;
}

EXPORT double cq_to_number(JSContext *ctx, JSValueConst *ref) {
  double number = 0;
  if (JS_ToFloat64(ctx, &number, *ref) < 0) {
    JS_FreeValue(ctx, JS_GetException(ctx));
    return 0;
  }
  return number;
}

/* UTF-8 of a value converted to string (freed with cq_free_string), or NULL (exception pending). */
EXPORT const char *cq_to_string(JSContext *ctx, JSValueConst *ref, size_t *out_length) {
  return JS_ToCStringLen(ctx, out_length, *ref);
}

/* JSON.stringify of a value, or NULL: an exception is pending, or JSON has no text for the value (*out_length = SIZE_MAX then). */
EXPORT const char *cq_to_json(JSContext *ctx, JSValueConst *ref, size_t *out_length) {
  JSValue json = JS_JSONStringify(ctx, *ref, JS_UNDEFINED, JS_UNDEFINED);
  *out_length = JS_IsUndefined(json) ? SIZE_MAX : 0;
  if (JS_IsException(json) || JS_IsUndefined(json)) return NULL;
  const char *text = JS_ToCStringLen(ctx, out_length, json);
  JS_FreeValue(ctx, json);
  return text;
}

EXPORT void cq_free_string(JSContext *ctx, const char *text) {
  JS_FreeCString(ctx, text);
}

/* The bytes of an ArrayBuffer, in place (valid until the engine next allocates), or NULL if the value is none. */
EXPORT uint8_t *cq_array_buffer(JSContext *ctx, JSValueConst *ref, size_t *out_length) {
  if (!JS_IsObject(*ref)) return NULL;
  uint8_t *bytes = JS_GetArrayBuffer(ctx, out_length, *ref);
  if (bytes == NULL) {
    JS_FreeValue(ctx, JS_GetException(ctx));
    return NULL;
  }
  return bytes;
}

EXPORT JSValue *cq_new_object(JSContext *ctx) { return result_ref(ctx, JS_NewObject(ctx)); }
EXPORT JSValue *cq_new_array(JSContext *ctx) { return result_ref(ctx, JS_NewArray(ctx)); }
EXPORT JSValue *cq_new_number(JSContext *ctx, double number) { return result_ref(ctx, JS_NewFloat64(ctx, number)); }

EXPORT JSValue *cq_new_string(JSContext *ctx, const char *utf8, size_t length) {
  return result_ref(ctx, JS_NewStringLen(ctx, utf8, length));
}

EXPORT JSValue *cq_new_array_buffer(JSContext *ctx, const uint8_t *bytes, size_t length) {
  return result_ref(ctx, JS_NewArrayBufferCopy(ctx, bytes, length));
}

EXPORT JSValue *cq_get_property(JSContext *ctx, JSValueConst *object, const char *name) {
  return result_ref(ctx, JS_GetPropertyStr(ctx, *object, name));
}

EXPORT JSValue *cq_get_index(JSContext *ctx, JSValueConst *object, uint32_t index) {
  return result_ref(ctx, JS_GetPropertyUint32(ctx, *object, index));
}

/* Sets a property to (a new reference to) a value; -1 on exception. */
EXPORT int cq_set_property(JSContext *ctx, JSValueConst *object, const char *name, JSValueConst *value) {
  return JS_SetPropertyStr(ctx, *object, name, JS_DupValue(ctx, *value));
}

EXPORT int cq_set_index(JSContext *ctx, JSValueConst *object, uint32_t index, JSValueConst *value) {
  return JS_SetPropertyUint32(ctx, *object, index, JS_DupValue(ctx, *value));
}

static JSValue call_host(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv, int magic, JSValue *data) {
  int function_id;
  JS_ToInt32(ctx, &function_id, data[0]);
  JSValue *result = host_call(function_id, argc, argv);
  if (result == NULL) return JS_UNDEFINED;
  if (result == HOST_EXCEPTION) return JS_EXCEPTION;
  JSValue value = *result;
  free(result);
  return value;
}

EXPORT JSValue *cq_new_host_function(JSContext *ctx, const char *name, int function_id, int length) {
  JSValue id = JS_NewInt32(ctx, function_id);
  JSValue fn = JS_NewCFunctionData(ctx, call_host, length, 0, 1, &id);
  if (!JS_IsException(fn)) JS_DefinePropertyValueStr(ctx, fn, "name", JS_NewString(ctx, name), JS_PROP_CONFIGURABLE);
  return result_ref(ctx, fn);
}

/*
 * Throws a new error of the standard class `name` names (TypeError,
 * RangeError, ...; the engine's own constructors, not whatever the app may
 * have put on the global), or an Error whose name is set to `name`.
 */
EXPORT void cq_throw_error(JSContext *ctx, const char *name, const char *message) {
  if (strcmp(name, "TypeError") == 0) JS_ThrowTypeError(ctx, "%s", message);
  else if (strcmp(name, "RangeError") == 0) JS_ThrowRangeError(ctx, "%s", message);
  else if (strcmp(name, "SyntaxError") == 0) JS_ThrowSyntaxError(ctx, "%s", message);
  else if (strcmp(name, "ReferenceError") == 0) JS_ThrowReferenceError(ctx, "%s", message);
  else if (strcmp(name, "InternalError") == 0) JS_ThrowInternalError(ctx, "%s", message);
  else {
    JSValue error = JS_NewError(ctx);
    if (JS_IsException(error)) return;
    JS_DefinePropertyValueStr(ctx, error, "message", JS_NewString(ctx, message), JS_PROP_WRITABLE | JS_PROP_CONFIGURABLE);
    if (strcmp(name, "Error") != 0) JS_DefinePropertyValueStr(ctx, error, "name", JS_NewString(ctx, name), JS_PROP_WRITABLE | JS_PROP_CONFIGURABLE);
    JS_Throw(ctx, error);
  }
}

EXPORT void *cq_malloc(size_t size) { return malloc(size); }
EXPORT void cq_free_memory(void *pointer) { free(pointer); }

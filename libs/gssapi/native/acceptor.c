/*
 * The acceptor side of GSS-API (RFC 2743) with MIT Kerberos, for SASL GSSAPI (RFC 4752 §3.1):
 * credentials from a keytab for one service principal, a security context per client, and the
 * per-message wrap/unwrap the SASL security-layer negotiation needs.
 *
 * Synchronous on purpose: an acceptor never talks to the KDC. Accepting a token decrypts the
 * ticket with the keytab's key and checks the replay cache (a local file), well under a
 * millisecond of work, so a thread pool would cost more than it saves.
 *
 * Exports (N-API, node_api.h only):
 *   acquire(keytab: string, principal: string) -> credentials (external)
 *   accept(credentials, context | null, token: Buffer)
 *       -> { context, complete: boolean, output: Buffer, principal: string | null }
 *   wrap(context, Buffer) -> Buffer      integrity only, no confidentiality
 *   unwrap(context, Buffer) -> Buffer
 *   release(context)                     frees the context now rather than at garbage collection
 */
#include <node_api.h>
#include <gssapi/gssapi.h>
#include <gssapi/gssapi_ext.h>
#include <gssapi/gssapi_krb5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  gss_cred_id_t cred;
} creds_t;

typedef struct {
  gss_ctx_id_t ctx;
  int complete;
} context_t;

#define CHECK(call)                                                                                \
  do {                                                                                             \
    if ((call) != napi_ok) {                                                                       \
      napi_throw_error(env, NULL, "N-API call failed: " #call);                                    \
      return NULL;                                                                                 \
    }                                                                                              \
  } while (0)

/* Appends the text of every status message of one kind (major or minor) to buf. */
static void append_status(char *buf, size_t size, OM_uint32 code, int type) {
  OM_uint32 minor, context = 0;
  gss_buffer_desc text;
  do {
    if (GSS_ERROR(gss_display_status(&minor, code, type, GSS_C_NO_OID, &context, &text))) return;
    size_t used = strlen(buf);
    if (used > 0 && used + 2 < size) strcat(buf, ": ");
    used = strlen(buf);
    size_t n = text.length < size - used - 1 ? text.length : size - used - 1;
    memcpy(buf + used, text.value, n);
    buf[used + n] = '\0';
    gss_release_buffer(&minor, &text);
  } while (context != 0);
}

/* Throws an Error whose message is GSS-API's (e.g. "Ticket expired", "Request is a replay"). */
static void *throw_gss(napi_env env, const char *what, OM_uint32 major, OM_uint32 minor) {
  char message[512];
  snprintf(message, sizeof message, "%s", what);
  char detail[448] = "";
  append_status(detail, sizeof detail, major, GSS_C_GSS_CODE);
  if (minor != 0) append_status(detail, sizeof detail, minor, GSS_C_MECH_CODE);
  if (detail[0] != '\0') {
    strncat(message, ": ", sizeof message - strlen(message) - 1);
    strncat(message, detail, sizeof message - strlen(message) - 1);
  }
  napi_throw_error(env, "GSSAPI_FAILED", message);
  return NULL;
}

static void free_creds(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  creds_t *creds = data;
  OM_uint32 minor;
  if (creds->cred != GSS_C_NO_CREDENTIAL) gss_release_cred(&minor, &creds->cred);
  free(creds);
}

static void release_context(context_t *context) {
  OM_uint32 minor;
  if (context->ctx != GSS_C_NO_CONTEXT) gss_delete_sec_context(&minor, &context->ctx, GSS_C_NO_BUFFER);
  context->ctx = GSS_C_NO_CONTEXT;
}

static void free_context(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  release_context(data);
  free(data);
}

static char *string_arg(napi_env env, napi_value value) {
  size_t length;
  if (napi_get_value_string_utf8(env, value, NULL, 0, &length) != napi_ok) return NULL;
  char *text = malloc(length + 1);
  if (text == NULL) return NULL;
  napi_get_value_string_utf8(env, value, text, length + 1, &length);
  return text;
}

static void *external_arg(napi_env env, napi_value value) {
  napi_valuetype type;
  void *data = NULL;
  if (napi_typeof(env, value, &type) != napi_ok || type != napi_external) return NULL;
  napi_get_value_external(env, value, &data);
  return data;
}

static int buffer_arg(napi_env env, napi_value value, gss_buffer_desc *out) {
  bool is_buffer = false;
  if (napi_is_buffer(env, value, &is_buffer) != napi_ok || !is_buffer) return 0;
  void *data;
  size_t length;
  if (napi_get_buffer_info(env, value, &data, &length) != napi_ok) return 0;
  out->value = data;
  out->length = length;
  return 1;
}

static napi_value to_buffer(napi_env env, gss_buffer_desc *buffer) {
  napi_value result;
  OM_uint32 minor;
  napi_status status = napi_create_buffer_copy(env, buffer->length, buffer->value, NULL, &result);
  gss_release_buffer(&minor, buffer);
  return status == napi_ok ? result : NULL;
}

static napi_value acquire(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  char *keytab = argc == 2 ? string_arg(env, argv[0]) : NULL;
  char *principal = argc == 2 ? string_arg(env, argv[1]) : NULL;
  if (keytab == NULL || principal == NULL) {
    free(keytab);
    free(principal);
    napi_throw_type_error(env, NULL, "acquire(keytab, principal): two strings expected");
    return NULL;
  }
  OM_uint32 major, minor;
  gss_buffer_desc name_text = {strlen(principal), principal};
  gss_name_t name = GSS_C_NO_NAME;
  major = gss_import_name(&minor, &name_text, GSS_KRB5_NT_PRINCIPAL_NAME, &name);
  if (GSS_ERROR(major)) {
    free(keytab);
    free(principal);
    return throw_gss(env, "service principal", major, minor);
  }
  /* The keytab is named per credential (MIT's credential store), not by the process-wide
   * KRB5_KTNAME, so IMAP and POP3 may each have their own. */
  gss_key_value_element_desc element = {"keytab", keytab};
  gss_key_value_set_desc store = {1, &element};
  creds_t *creds = calloc(1, sizeof *creds);
  major = gss_acquire_cred_from(&minor, name, GSS_C_INDEFINITE, GSS_C_NO_OID_SET, GSS_C_ACCEPT, keytab[0] != '\0' ? &store : GSS_C_NO_CRED_STORE,
                                &creds->cred, NULL, NULL);
  OM_uint32 ignored;
  gss_release_name(&ignored, &name);
  free(keytab);
  free(principal);
  if (GSS_ERROR(major)) {
    free(creds);
    return throw_gss(env, "acceptor credentials", major, minor);
  }
  napi_value result;
  CHECK(napi_create_external(env, creds, free_creds, NULL, &result));
  return result;
}

static napi_value accept_token(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  creds_t *creds = argc == 3 ? external_arg(env, argv[0]) : NULL;
  gss_buffer_desc input;
  if (creds == NULL || !buffer_arg(env, argv[2], &input)) {
    napi_throw_type_error(env, NULL, "accept(credentials, context, token): credentials and a Buffer expected");
    return NULL;
  }
  napi_value context_value = argv[1];
  context_t *context = external_arg(env, context_value);
  if (context == NULL) {
    context = calloc(1, sizeof *context);
    context->ctx = GSS_C_NO_CONTEXT;
    CHECK(napi_create_external(env, context, free_context, NULL, &context_value));
  }
  if (context->complete) {
    napi_throw_error(env, "GSSAPI_FAILED", "security context already established");
    return NULL;
  }
  OM_uint32 major, minor, flags = 0;
  gss_name_t source = GSS_C_NO_NAME;
  gss_buffer_desc output = GSS_C_EMPTY_BUFFER;
  major = gss_accept_sec_context(&minor, &context->ctx, creds->cred, &input, GSS_C_NO_CHANNEL_BINDINGS, &source, NULL, &output, &flags, NULL, NULL);
  if (GSS_ERROR(major)) {
    OM_uint32 ignored;
    gss_release_buffer(&ignored, &output);
    release_context(context);
    return throw_gss(env, "accept", major, minor);
  }
  napi_value result, complete, principal, out;
  CHECK(napi_create_object(env, &result));
  context->complete = !(major & GSS_S_CONTINUE_NEEDED);
  CHECK(napi_get_boolean(env, context->complete, &complete));
  CHECK(napi_get_null(env, &principal));
  if (context->complete && source != GSS_C_NO_NAME) {
    gss_buffer_desc name_text = GSS_C_EMPTY_BUFFER;
    OM_uint32 name_minor;
    if (!GSS_ERROR(gss_display_name(&name_minor, source, &name_text, NULL))) {
      napi_create_string_utf8(env, name_text.value, name_text.length, &principal);
      gss_release_buffer(&name_minor, &name_text);
    }
  }
  if (source != GSS_C_NO_NAME) gss_release_name(&minor, &source);
  out = to_buffer(env, &output);
  if (out == NULL) return NULL;
  CHECK(napi_set_named_property(env, result, "context", context_value));
  CHECK(napi_set_named_property(env, result, "complete", complete));
  CHECK(napi_set_named_property(env, result, "output", out));
  CHECK(napi_set_named_property(env, result, "principal", principal));
  return result;
}

static napi_value per_message(napi_env env, napi_callback_info info, int wrapping) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  context_t *context = argc == 2 ? external_arg(env, argv[0]) : NULL;
  gss_buffer_desc input;
  if (context == NULL || !buffer_arg(env, argv[1], &input)) {
    napi_throw_type_error(env, NULL, "wrap/unwrap(context, data): a context and a Buffer expected");
    return NULL;
  }
  if (!context->complete || context->ctx == GSS_C_NO_CONTEXT) {
    napi_throw_error(env, "GSSAPI_FAILED", "no established security context");
    return NULL;
  }
  OM_uint32 major, minor;
  gss_buffer_desc output = GSS_C_EMPTY_BUFFER;
  if (wrapping)
    major = gss_wrap(&minor, context->ctx, 0, GSS_C_QOP_DEFAULT, &input, NULL, &output);
  else
    major = gss_unwrap(&minor, context->ctx, &input, &output, NULL, NULL);
  if (GSS_ERROR(major)) return throw_gss(env, wrapping ? "wrap" : "unwrap", major, minor);
  return to_buffer(env, &output);
}

static napi_value wrap(napi_env env, napi_callback_info info) {
  return per_message(env, info, 1);
}

static napi_value unwrap(napi_env env, napi_callback_info info) {
  return per_message(env, info, 0);
}

static napi_value release(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  context_t *context = argc == 1 ? external_arg(env, argv[0]) : NULL;
  if (context != NULL) {
    release_context(context);
    context->complete = 0;
  }
  return NULL;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor functions[] = {
      {"acquire", NULL, acquire, NULL, NULL, NULL, napi_enumerable, NULL},
      {"accept", NULL, accept_token, NULL, NULL, NULL, napi_enumerable, NULL},
      {"wrap", NULL, wrap, NULL, NULL, NULL, napi_enumerable, NULL},
      {"unwrap", NULL, unwrap, NULL, NULL, NULL, napi_enumerable, NULL},
      {"release", NULL, release, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  CHECK(napi_define_properties(env, exports, sizeof functions / sizeof functions[0], functions));
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)

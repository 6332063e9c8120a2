/*
 * assistants.h - several assistants and a registry of tools, read once at
 * start-up from the JSON file named by CHATKITD_ASSISTANTS (docs/assistants.md).
 *
 * Without CHATKITD_ASSISTANTS there is no registry (ck_assistants_get()
 * returns NULL) and the agent behaves exactly as with a single assistant.
 * With it, every turn runs as one assistant: its instructions replace the
 * system prompt, its model overrides CHATKITD_MODEL, it is offered only the
 * tools it lists (`search`, HTTP tools, client tools) and its `search` sees
 * only documents whose source starts with one of its `sources` prefixes.
 *
 * The registry is immutable once loaded and shared read-only by every
 * worker thread.  Loading is the only blocking part (start-up, main thread);
 * a bad file refuses to start with a message naming the file and the JSON
 * path of the fault ("$.assistants[1].tools[0]").
 *
 * This header never includes h2o, libpq or libcurl.
 */
#ifndef CK_AGENT_ASSISTANTS_H
#define CK_AGENT_ASSISTANTS_H

#include <stddef.h>

#include <jansson.h>

#define CK_TOOL_TIMEOUT_DEFAULT_MS 10000
#define CK_TOOL_TIMEOUT_MAX_MS 600000

/* One entry of "tools": an HTTP tool (url) or a client tool (client: true). */
typedef struct ck_tool_def {
    char *name;         /* function name offered to the model */
    char *description;  /* "" when absent */
    json_t *parameters; /* JSON Schema of the arguments (an object schema) */
    char *url;          /* HTTP tools: the URL POSTed to; NULL for client tools */
    int client;         /* 1: executed by the browser (client_tool_call item) */
    char **headers;     /* NULL-terminated "Name: value" lines, ${VAR} expanded */
    int timeout_ms;     /* whole call, default CK_TOOL_TIMEOUT_DEFAULT_MS */
} ck_tool_def_t;

/* One entry of "assistants". */
typedef struct ck_assistant {
    char *id;
    char *name;                  /* = id when absent */
    char *description;           /* "" when absent */
    char *instructions;          /* system prompt, or NULL: the configured one */
    char *model;                 /* model name, or NULL: CHATKITD_MODEL */
    json_t *examples;            /* array of strings (possibly empty) */
    json_t *sources;             /* array of source prefixes, or NULL: every document */
    int search;                  /* lists the built-in `search` tool */
    const ck_tool_def_t **tools; /* the registry tools it lists (borrowed) */
    size_t tool_count;
    int is_default;
} ck_assistant_t;

typedef struct ck_assistants {
    ck_assistant_t *list;
    size_t count;
    ck_tool_def_t *tools;
    size_t tool_count;
    size_t default_index;
    char *path;             /* the file it came from */
    char *route_candidates; /* JSON text [{"id","texts":[description, examples...]}] for routing */
} ck_assistants_t;

/* Parses the configuration `text` (`path` is only used in messages).
 * Returns the registry (free with ck_assistants_free) or NULL with a
 * message naming the place in `err`.  ${VAR} in any string value is
 * replaced by the environment variable VAR (unset = error). */
ck_assistants_t *ck_assistants_parse(const char *text, size_t len, const char *path, char *err, size_t err_len);

/* Reads and parses the file at `path` (blocking; start-up only). */
ck_assistants_t *ck_assistants_load(const char *path, char *err, size_t err_len);

void ck_assistants_free(ck_assistants_t *registry);

/* Process-wide registry from CHATKITD_ASSISTANTS: loads it once (main
 * thread, before the workers start).  Returns 0 (also when the variable is
 * unset: no registry) or -1 after logging why the file is refused. */
int ck_assistants_init_from_env(void);
/* The process-wide registry, or NULL without CHATKITD_ASSISTANTS. */
const ck_assistants_t *ck_assistants_get(void);
/* Frees the process-wide registry (after the workers stopped). */
void ck_assistants_shutdown(void);

const ck_assistant_t *ck_assistants_find(const ck_assistants_t *registry, const char *id);
const ck_assistant_t *ck_assistants_default(const ck_assistants_t *registry);

/* The tool `name` when `assistant` lists it, else NULL (never `search`). */
const ck_tool_def_t *ck_assistant_tool(const ck_assistant_t *assistant, const char *name);

/* GET /assistants body: {"data":[{"id","name","description","default"}]}.
 * New reference. */
json_t *ck_assistants_public(const ck_assistants_t *registry);

/* Whether inference_options.model `model` may be used with a registry:
 * an assistant id always, any other name only when `allow_override`. */
int ck_assistants_model_allowed(const ck_assistants_t *registry, const char *model, int allow_override);

/* Checks `args` against the JSON Schema subset used by tool parameters
 * (type, properties, required, enum, additionalProperties, items,
 * minimum/maximum, minLength/maxLength).  Returns 0, or -1 with a message
 * naming the argument ("$.from: expected string") in `err`. */
int ck_tool_args_check(const json_t *schema, const json_t *args, char *err, size_t err_len);

#endif

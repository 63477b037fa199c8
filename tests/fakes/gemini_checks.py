"""What the fake Gemini API knows of the real one: its model catalog, its error bodies, and what
it answers 400 to (request validation as far as tests need it, with Google's messages). Field
names may be camelCase or snake_case (the JSON mapping of the real API's protos accepts both);
paths in messages are snake_case, as Google writes them."""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

Json = dict[str, Any]

STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
MESSAGES = {
    400: "Request contains an invalid argument.",
    401: "Request had invalid authentication credentials. Expected OAuth 2 access token, login "
    "cookie or other valid authentication credential.",
    403: "Method doesn't allow unregistered callers (callers without established identity). "
    "Please use API Key or other form of API consumer identity to call this API.",
    404: "Requested entity was not found.",
    429: "You exceeded your current quota, please check your plan and billing details.",
    500: "An internal error has occurred. Please retry or report in "
    "https://developers.generativeai.google/guide/troubleshooting",
    503: "The model is overloaded. Please try again later.",
}
GENERATE = ["generateContent", "countTokens", "createCachedContent", "batchGenerateContent"]
MODELS: list[Json] = [
    {"name": "models/gemini-2.0-flash", "inputTokenLimit": 1048576, "outputTokenLimit": 8192},
    {"name": "models/gemini-2.5-flash", "inputTokenLimit": 1048576, "outputTokenLimit": 65536},
    {"name": "models/gemini-2.5-pro", "inputTokenLimit": 1048576, "outputTokenLimit": 65536},
    {"name": "models/gemini-3-pro-preview", "inputTokenLimit": 1048576, "outputTokenLimit": 65536},
    {
        "name": "models/gemma-3-27b-it",
        "inputTokenLimit": 131072,
        "outputTokenLimit": 8192,
        "supportedGenerationMethods": ["generateContent", "countTokens"],
    },
    {
        "name": "models/gemini-embedding-001",
        "inputTokenLimit": 2048,
        "outputTokenLimit": 1,
        "supportedGenerationMethods": ["embedContent", "countTextTokens", "countTokens"],
    },
    {
        "name": "models/text-embedding-004",
        "inputTokenLimit": 2048,
        "outputTokenLimit": 1,
        "supportedGenerationMethods": ["embedContent"],
    },
    {
        "name": "models/imagen-4.0-generate-001",
        "inputTokenLimit": 480,
        "outputTokenLimit": 8192,
        "supportedGenerationMethods": ["predict"],
    },
]
for _m in MODELS:
    _m.setdefault("supportedGenerationMethods", GENERATE)
    _m.setdefault("version", "001")
    _m.setdefault("displayName", _m["name"].removeprefix("models/").replace("-", " ").title())


def google_error(code: int, message: str | None = None, details: list[Json] | None = None) -> Json:
    err: Json = {
        "code": code,
        "message": message or MESSAGES.get(code, "Error"),
        "status": STATUS.get(code, "UNKNOWN"),
    }
    if details is None and code == 429:
        details = [
            {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": []},
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "7s"},
        ]
    if details:
        err["details"] = details
    return {"error": err}


TOP = {
    "contents", "tools", "toolConfig", "safetySettings", "systemInstruction", "generationConfig",
    "cachedContent",
}  # fmt: skip
CONTENT = {"role", "parts"}
PART = {
    "text", "inlineData", "fileData", "functionCall", "functionResponse", "executableCode",
    "codeExecutionResult", "thought", "thoughtSignature", "videoMetadata", "partMetadata",
}  # fmt: skip
DATA = {
    "text", "inlineData", "fileData", "functionCall", "functionResponse", "executableCode",
    "codeExecutionResult",
}  # fmt: skip
TOOL = {
    "functionDeclarations",
    "googleSearch",
    "googleSearchRetrieval",
    "codeExecution",
    "urlContext",
}
DECLARATION = {
    "name", "description", "parameters", "parametersJsonSchema", "response",
    "responseJsonSchema", "behavior",
}  # fmt: skip
SCHEMA = {
    "type", "format", "title", "description", "nullable", "enum", "maxItems", "minItems",
    "properties", "required", "minProperties", "maxProperties", "minLength", "maxLength",
    "pattern", "example", "anyOf", "propertyOrdering", "default", "items", "minimum", "maximum",
}  # fmt: skip
TYPES = {"STRING", "NUMBER", "INTEGER", "BOOLEAN", "ARRAY", "OBJECT", "NULL"}
GENERATION = {
    "stopSequences", "responseMimeType", "responseSchema", "responseJsonSchema",
    "responseModalities", "candidateCount", "maxOutputTokens", "temperature", "topP", "topK",
    "seed", "presencePenalty", "frequencyPenalty", "responseLogprobs", "logprobs",
    "thinkingConfig", "mediaResolution", "speechConfig",
}  # fmt: skip
MIME_TYPES = {
    "text/plain",
    "application/json",
    "application/xml",
    "application/yaml",
    "text/x.enum",
}
FUNCTION_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.:\-]{0,63}$")
EMBED = {"model", "content", "taskType", "title", "outputDimensionality"}


class Invalid(Exception):
    pass


def camel(name: str) -> str:
    return re.sub(r"_([a-z])", lambda m: m.group(1).upper(), name)


def _fields(obj: object, allowed: set[str], where: str) -> Json:
    if not isinstance(obj, dict):
        raise Invalid(f"Invalid value at '{where}', expected an object.")
    out: Json = {}
    for key, value in obj.items():
        if camel(key) not in allowed:
            at = f" at '{where}'" if where else ""
            raise Invalid(
                f'Invalid JSON payload received. Unknown name "{key}"{at}: Cannot find field.'
            )
        out[camel(key)] = value
    return out


def _bytes(value: object, where: str) -> None:
    try:
        text = str(value)
        base64.b64decode(text.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError):
        raise Invalid(f"Invalid value at '{where}' (TYPE_BYTES), Base64 decoding failed") from None


def _number(value: object, where: str, low: float, high: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Invalid(f"Invalid value at '{where}' (TYPE_FLOAT), {value!r}")
    if not low <= value <= high:
        raise Invalid(f"* GenerateContentRequest.{where}: must be in the range [{low}, {high}]")


def _schema(node: object, where: str, *, need_properties: bool = False) -> None:
    s = _fields(node, SCHEMA, where)
    kind = s.get("type")
    if kind is not None and str(kind).upper() not in TYPES:
        raise Invalid(
            f"Invalid value at '{where}.type' (type.googleapis.com/google.ai."
            f'generativelanguage.v1beta.Type), "{kind}"'
        )
    kind = str(kind).upper() if kind else None
    fmt = s.get("format")
    if kind == "STRING" and fmt not in (None, "enum", "date-time"):
        raise Invalid(
            f"* GenerateContentRequest.{where}.format: only 'enum' and 'date-time' "
            "are supported for STRING type"
        )
    for n, value in enumerate(s.get("enum") or []):
        if not isinstance(value, str):
            raise Invalid(f"Invalid value at '{where}.enum[{n}]' (TYPE_STRING), {value}")
    props = s.get("properties") or {}
    if kind == "OBJECT" and need_properties and not props:
        raise Invalid(
            f"* GenerateContentRequest.{where}.properties: should be non-empty for OBJECT type"
        )
    for name, sub in props.items():
        _schema(sub, f"{where}.properties[{name}].value")
    for n, name in enumerate(s.get("required") or []):
        if name not in props:
            raise Invalid(
                f"* GenerateContentRequest.{where}.required[{n}]: property is not defined"
            )
    if "items" in s:
        _schema(s["items"], f"{where}.items")
    for n, sub in enumerate(s.get("anyOf") or []):
        _schema(sub, f"{where}.any_of[{n}]")


def _contents(contents: object) -> None:
    if not contents:
        raise Invalid("* GenerateContentRequest.contents: contents is not specified")
    if not isinstance(contents, list):
        raise Invalid("Invalid value at 'contents', expected a list.")
    prev_role, prev_calls = "", 0
    for i, item in enumerate(contents):
        content = _fields(item, CONTENT, f"contents[{i}]")
        role = content.get("role") or "user"
        if role not in ("user", "model"):
            raise Invalid("Please use a valid role: user, model.")
        parts = content.get("parts")
        if not parts or not isinstance(parts, list):
            raise Invalid(
                f"* GenerateContentRequest.contents[{i}].parts: contents.parts must not be empty."
            )
        calls = responses = 0
        for j, raw in enumerate(parts):
            where = f"contents[{i}].parts[{j}]"
            part = _fields(raw, PART, where)
            data = [k for k in part if k in DATA]
            if len(data) != 1:
                raise Invalid(
                    f"* GenerateContentRequest.{where}.data: required oneof field "
                    "'data' must have one initialized field"
                )
            kind, value = data[0], part[data[0]]
            if kind == "text" and (not isinstance(value, str) or not value):
                raise Invalid(
                    "Unable to submit request because it has an empty text parameter. "
                    "Add a value to the parameter and try again."
                )
            if kind == "inlineData":
                blob = _fields(value, {"mimeType", "data"}, f"{where}.inline_data")
                if not blob.get("mimeType") or not blob.get("data"):
                    raise Invalid(
                        f"* GenerateContentRequest.{where}.inline_data: mime_type and "
                        "data must be set"
                    )
                _bytes(blob["data"], f"{where}.inline_data.data")
            if kind == "fileData":
                ref = _fields(value, {"mimeType", "fileUri"}, f"{where}.file_data")
                if not ref.get("fileUri"):
                    raise Invalid(
                        f"* GenerateContentRequest.{where}.file_data.file_uri: file_uri must be set"
                    )
            if kind == "functionCall":
                call = _fields(value, {"id", "name", "args"}, f"{where}.function_call")
                if not call.get("name") or not isinstance(call.get("args", {}), dict):
                    raise Invalid(
                        f"* GenerateContentRequest.{where}.function_call.name: name must be set"
                    )
                calls += 1
            if kind == "functionResponse":
                allowed = {"id", "name", "response", "willContinue", "scheduling", "parts"}
                answer = _fields(value, allowed, f"{where}.function_response")
                if not answer.get("name") or not isinstance(answer.get("response"), dict):
                    raise Invalid(
                        f"* GenerateContentRequest.{where}.function_response: name "
                        "and response must be set"
                    )
                responses += 1
            if "thoughtSignature" in part:
                _bytes(part["thoughtSignature"], f"{where}.thought_signature")
        if calls and (role != "model" or prev_role != "user"):
            raise Invalid(
                "Please ensure that function call turn comes immediately after a user "
                "turn or after a function response turn."
            )
        if (prev_calls or responses) and responses != prev_calls:
            raise Invalid(
                "Please ensure that the number of function response parts is equal to "
                "the number of function call parts of the function call turn."
            )
        prev_role, prev_calls = role, calls


def _tools(tools: object) -> set[str]:
    names: set[str] = set()
    for i, raw in enumerate(tools if isinstance(tools, list) else [tools]):
        tool = _fields(raw, TOOL, f"tools[{i}]")
        for j, raw_decl in enumerate(tool.get("functionDeclarations") or []):
            where = f"tools[{i}].function_declarations[{j}]"
            decl = _fields(raw_decl, DECLARATION, where)
            if not FUNCTION_NAME.match(str(decl.get("name") or "")):
                raise Invalid(
                    f"* GenerateContentRequest.{where}.name: Invalid function name. "
                    "Must start with a letter or an underscore. Must be alphameric "
                    "(a-z, A-Z, 0-9), underscores (_), dots (.), colons (:), or dashes "
                    "(-), with a maximum length of 64."
                )
            names.add(decl["name"])
            if "parameters" in decl:
                _schema(decl["parameters"], f"{where}.parameters", need_properties=True)
    return names


def _generation(raw: object) -> None:
    gc = _fields(raw, GENERATION, "generation_config")
    if "temperature" in gc:
        _number(gc["temperature"], "generation_config.temperature", 0.0, 2.0)
    if "topP" in gc:
        _number(gc["topP"], "generation_config.top_p", 0.0, 1.0)
    if "maxOutputTokens" in gc:
        _number(gc["maxOutputTokens"], "generation_config.max_output_tokens", 1, 1 << 20)
    stops = gc.get("stopSequences", [])
    if not isinstance(stops, list) or len(stops) > 5 or not all(isinstance(s, str) for s in stops):
        raise Invalid(
            "* GenerateContentRequest.generation_config.stop_sequences: at most 5 "
            "stop sequences are allowed"
        )
    mime = gc.get("responseMimeType")
    if mime is not None and mime not in MIME_TYPES:
        raise Invalid(
            "* GenerateContentRequest.generation_config.response_mime_type: allowed "
            "mimetypes are `text/plain`, `application/json`, `application/xml`, "
            "`application/yaml` and `text/x.enum`."
        )
    if "responseSchema" in gc:
        if mime not in ("application/json", "text/x.enum"):
            raise Invalid(
                "* GenerateContentRequest.generation_config.response_mime_type: "
                "response_schema requires application/json or text/x.enum"
            )
        _schema(gc["responseSchema"], "generation_config.response_schema")
    if "thinkingConfig" in gc:
        allowed = {"thinkingBudget", "thinkingLevel", "includeThoughts"}
        thinking = _fields(gc["thinkingConfig"], allowed, "generation_config.thinking_config")
        if "thinkingBudget" in thinking and "thinkingLevel" in thinking:
            raise Invalid(
                "You cannot use both thinking_level and the legacy thinking_budget "
                "parameter in the same request."
            )


def _tool_config(raw: object, declared: set[str]) -> None:
    config = _fields(raw, {"functionCallingConfig", "retrievalConfig"}, "tool_config")
    where = "tool_config.function_calling_config"
    calling = _fields(
        config.get("functionCallingConfig") or {}, {"mode", "allowedFunctionNames"}, where
    )
    mode = calling.get("mode", "AUTO")
    if mode not in ("MODE_UNSPECIFIED", "AUTO", "ANY", "NONE", "VALIDATED"):
        raise Invalid(
            f"Invalid value at '{where}.mode' (type.googleapis.com/google.ai."
            f'generativelanguage.v1beta.FunctionCallingConfig.Mode), "{mode}"'
        )
    names = calling.get("allowedFunctionNames")
    if names and mode not in ("ANY", "VALIDATED"):
        raise Invalid(
            f"* GenerateContentRequest.{where}.allowed_function_names: "
            "allowed_function_names should only be set when the Mode is ANY."
        )
    for name in names or []:
        if name not in declared:
            raise Invalid(
                f"* GenerateContentRequest.{where}.allowed_function_names: function "
                f"{name} is not declared"
            )


def check_generate(payload: Json) -> str | None:
    """None if the real API would take this ``GenerateContentRequest``, else its 400 message."""
    try:
        request = _fields(payload, TOP, "")
        _contents(request.get("contents"))
        if "systemInstruction" in request:
            system = _fields(request["systemInstruction"], CONTENT, "system_instruction")
            for j, part in enumerate(system.get("parts") or []):
                _fields(part, PART, f"system_instruction.parts[{j}]")
        declared = _tools(request["tools"]) if "tools" in request else set()
        if "toolConfig" in request:
            _tool_config(request["toolConfig"], declared)
        if "generationConfig" in request:
            _generation(request["generationConfig"])
    except Invalid as exc:
        return str(exc)
    return None


def check_embed(payload: Json, model: str, *, batch: bool) -> str | None:
    """The same for ``embedContent`` / ``batchEmbedContents``."""
    try:
        if batch:
            requests = _fields(payload, {"requests"}, "").get("requests")
            if not isinstance(requests, list) or not requests:
                raise Invalid("* BatchEmbedContentsRequest.requests: requests must not be empty")
            if len(requests) > 100:
                raise Invalid(
                    "* BatchEmbedContentsRequest.requests: at most 100 requests can be in one batch"
                )
        else:
            requests = [payload]
        for i, raw in enumerate(requests):
            one = _fields(raw, EMBED, f"requests[{i}]" if batch else "")
            if batch and one.get("model") != f"models/{model}":
                raise Invalid(
                    f"* BatchEmbedContentsRequest.requests[{i}].model: the model of "
                    "each request must be the model of the batch"
                )
            content = _fields(one.get("content"), CONTENT, f"requests[{i}].content")
            texts = [p.get("text") for p in content.get("parts") or [] if isinstance(p, dict)]
            if not texts or not all(isinstance(t, str) and t for t in texts):
                raise Invalid(
                    f"* BatchEmbedContentsRequest.requests[{i}].content.parts: text must be set"
                )
            dims = one.get("outputDimensionality")
            if isinstance(dims, int) and not 1 <= dims <= 3072:  # gemini-embedding-001's range
                raise Invalid(
                    f"* BatchEmbedContentsRequest.requests[{i}].output_dimensionality: "
                    "must be in the range [1, 3072]"
                )
    except Invalid as exc:
        return str(exc)
    return None

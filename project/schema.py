"""OpenAPI post-processing: document the error answers every API can give (validation, auth, not found)."""

ERRORS = {
    "400": "Invalid parameters: the body names each field and what is wrong with it.",
    "401": "Not authenticated (token or session missing).",
    "403": "Authenticated, but the role lacks the permission.",
    "404": "Not found (e.g. an unknown email, or a page past the end).",
}


def add_error_responses(result, generator, request, public):
    schema = {"type": "object", "additionalProperties": True}
    for path in result.get("paths", {}).values():
        for operation in path.values():
            responses = operation.setdefault("responses", {})
            content = {"application/json": {"schema": schema}}
            if "text/csv" in responses.get("200", {}).get("content", {}):  # ?format=csv answers errors as CSV too
                content["text/csv"] = {"schema": {"type": "string"}}
            for code, description in ERRORS.items():
                responses.setdefault(code, {"description": description, "content": content})
    return result

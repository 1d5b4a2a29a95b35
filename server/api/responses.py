"""The error answers a route can give, for the OpenAPI schema (each with its body model)."""
from .schemas import Error, ValidationErrors

_ERRORS = {
    400: (Error, "the body could not be read (not JSON, or cut short)"),
    401: (Error, "this server needs a token and none was sent, or the token (or ticket) is nobody's"),
    403: (Error, "another person's public result: only its owner (or an admin) may change or delete it; or the "
                 "model is not one a person made (DELETE /api/models/{id})"),
    404: (Error, "no such job, model, result, upload or training, or another person's (or no result store: "
                 "--no-store)"),
    409: (Error, "the upload set is being trained on: it cannot be deleted now"),
    413: (Error, "the request body is larger than the server's limit, or an upload set would pass its "
                 "max_upload_files or max_upload_bytes"),
    422: (ValidationErrors, "a field is invalid; `detail[0].loc` names it"),
    429: (Error, "the job queue (or the training queue) is full; retry after the Retry-After header's seconds"),
    503: (Error, "the server is still loading its models, or shutting down, or its result store failed"),
}


def errors(*codes: int) -> dict:
    return {code: {"model": _ERRORS[code][0], "description": _ERRORS[code][1]} for code in codes}

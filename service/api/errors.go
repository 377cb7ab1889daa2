package api

import "net/http"

// Error codes clients can switch on; the message is for humans.
const (
	codeNotFound         = "not_found"
	codeMethodNotAllowed = "method_not_allowed"
	codeInvalidSymbol    = "invalid_symbol"
	codeUnavailable      = "unavailable"
	codeInternal         = "internal_error"
)

type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// writeError answers with {"error":{"code":…,"message":…}}. Messages are fixed strings chosen by
// the handlers, never driver errors, so nothing about the database leaks to clients.
func writeError(w http.ResponseWriter, status int, code, message string) {
	body, _ := marshalJSON(errorBody{Error: errorDetail{Code: code, Message: message}})
	h := w.Header()
	h.Set("Content-Type", contentTypeJSON)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Del("Etag")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

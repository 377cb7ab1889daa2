package api

import (
	"bytes"
	"encoding/json"
)

// marshalJSON writes v as the original service's Json.NET does: <, > and & stay as they are
// (encoding/json would write \u003c and friends), and U+0085, U+2028 and U+2029 are escaped
// (encoding/json escapes the last two already). Json.NET's StringEscapeHandling.Default, see
// JavaScriptUtils.WriteEscapedJavaScriptString in JamesNK/Newtonsoft.Json.
func marshalJSON(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	out := bytes.TrimSuffix(b.Bytes(), []byte("\n"))
	// Outside strings JSON is ASCII, so every U+0085 here is inside one.
	return bytes.ReplaceAll(out, []byte("\u0085"), []byte(`\u0085`)), nil
}

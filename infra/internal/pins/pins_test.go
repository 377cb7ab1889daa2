package pins

import (
	"strings"
	"testing"
)

func TestVersion(t *testing.T) {
	v, err := Version("ISTIO_VERSION")
	if err != nil || v == "" || strings.ContainsAny(v, " \"'") {
		t.Fatalf("ISTIO_VERSION = %q, %v", v, err)
	}
	if _, err := Version("NO_SUCH_TOOL"); err == nil || !strings.Contains(err.Error(), "NO_SUCH_TOOL") {
		t.Fatalf("missing key: %v", err)
	}
}

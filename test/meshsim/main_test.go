package meshsim

import (
	"fmt"
	"os"
	"testing"

	istiolog "istio.io/istio/pkg/log"
)

func TestMain(m *testing.M) {
	// The fake istiod logs every controller sync; the verdicts are the tests' own messages.
	opts := istiolog.DefaultOptions()
	opts.SetDefaultOutputLevel(istiolog.OverrideScopeName, istiolog.NoneLevel)
	if err := istiolog.Configure(opts); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	os.Exit(m.Run())
}

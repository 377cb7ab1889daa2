// Command infra is the ctmd Pulumi program (Pulumi.yaml: main: infra/).
package main

import (
	"fmt"
	"os"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/cryptotracker/ctmd/infra/internal/source"
	"github.com/cryptotracker/ctmd/infra/stack"
)

func main() {
	// The language host starts the prebuilt binary in the program's directory (Pulumi.yaml runs
	// bin/ctmd-infra as it is), so a binary older than the checkout would deploy code nobody sees.
	if err := source.Check("."); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
	pulumi.Run(stack.Deploy)
}

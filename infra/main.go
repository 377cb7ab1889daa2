// Command infra is the ctmd Pulumi program (Pulumi.yaml: main: infra/).
package main

import (
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/cryptotracker/ctmd/infra/stack"
)

func main() { pulumi.Run(stack.Deploy) }

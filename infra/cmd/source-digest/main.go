// Command source-digest prints the digest of the program's sources, which `make infra-bin` stamps
// into bin/ctmd-infra (package infra/internal/source says why).
package main

import (
	"fmt"
	"os"

	"github.com/cryptotracker/ctmd/infra/internal/source"
)

func main() {
	digest, err := source.Digest(".")
	if err != nil {
		fmt.Fprintln(os.Stderr, "source-digest:", err)
		os.Exit(1)
	}
	fmt.Println(digest)
}

// Command actionlint is the upstream GitHub Actions workflow linter, built from its official Go module
// so the release workflow, which cannot run here, is still checked by the real linter.
package main

import (
	"os"
	_ "time/tzdata"

	"github.com/rhysd/actionlint"
)

func main() {
	command := actionlint.Command{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr}
	os.Exit(command.Main(os.Args))
}

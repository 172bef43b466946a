// Command helm is the upstream Helm CLI, built from its official Go module so the chart tests need no
// download of a prebuilt binary. Helm 4 exports its root command as a library (Helm 3 kept it in a
// main package); charts with apiVersion v2 render the same under Helm 3 and 4.
package main

import (
	"errors"
	"os"

	helmcmd "helm.sh/helm/v4/pkg/cmd"
	"helm.sh/helm/v4/pkg/kube"
)

func main() {
	// The field manager recorded on objects Helm applies: "helm", whatever the binary is called.
	kube.ManagedFieldsManager = "helm"
	cmd, err := helmcmd.NewRootCmd(os.Stdout, os.Args[1:], helmcmd.SetupLogging)
	if err != nil {
		os.Stderr.WriteString(err.Error() + "\n")
		os.Exit(1)
	}
	if err := cmd.Execute(); err != nil {
		var commandError helmcmd.CommandError
		if errors.As(err, &commandError) {
			os.Exit(commandError.ExitCode)
		}
		os.Exit(1)
	}
}

// Command containerd is the upstream containerd daemon, built from its official Go module for the
// local node: Debian bookworm ships containerd 1.6, older than the kubelet supports. Invoked through
// a link named `ctr` it is containerd's client instead (the node imports its images with it). The
// runc shim is a binary of its own (tools/containerd-shim-runc-v2): a shim loads every plugin
// registered in its binary, so it must not carry the daemon's.
package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	_ "github.com/containerd/containerd/v2/cmd/containerd/builtins"
	"github.com/containerd/containerd/v2/cmd/containerd/command"
	ctr "github.com/containerd/containerd/v2/cmd/ctr/app"
)

func main() {
	name := filepath.Base(os.Args[0])
	run := command.App().Run
	if name == "ctr" {
		run = ctr.New().Run
	}
	if err := run(context.Background(), os.Args); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		os.Exit(1)
	}
}

// A container runtime, written one stage at a time.
//
// Called as: your_program.sh run IMAGE COMMAND [ARG...]
package main

import (
	"fmt"
	"os"
)

const usage = "usage: your_program.sh run IMAGE COMMAND [ARG...]"

func main() {
	if len(os.Args) < 4 || os.Args[1] != "run" {
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
	image, command, arguments := os.Args[2], os.Args[3], os.Args[4:]

	// Stage 1: run command with arguments and wait for it to finish
	// (exec.Command from os/exec). Print your own messages to stderr:
	// stdout belongs to the command.
	fmt.Fprintf(os.Stderr,
		"your_program: TODO: run %q with %d argument(s) (image %q). "+
			"Write stage 1 in app/main.go; read its instructions with "+
			"`pytest-stages instructions 1`.\n",
		command, len(arguments), image)
	os.Exit(1)
}

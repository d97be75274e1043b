//go:build ignore

// gen_docs writes docs/configuration.md from the config structs: run
// `go generate ./internal/config` (TestReferenceUpToDate fails until then).
package main

import (
	"bytes"
	"log"
	"os"

	"github.com/heraldhq/herald/internal/config"
)

func main() {
	var b bytes.Buffer
	if err := config.WriteReference(&b); err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile("../../docs/configuration.md", b.Bytes(), 0o644); err != nil {
		log.Fatal(err)
	}
}

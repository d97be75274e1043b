package protocol

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"testing"
)

// vectorsPath is where the SDK-generated vectors live relative to this
// package directory (the repo and shared/ are siblings, locally and in CI).
const vectorsPath = "../../../shared/spec/vectors.json"

type pusherJSVectors struct {
	ClientToServer []struct {
		Label string
		Frame *string
	} `json:"client_to_server_frames"`
	ServerToClient []struct {
		Label       string
		ServerFrame *string `json:"server_frame"`
	} `json:"server_to_client_reactions"`
}

// loadPusherJS reads the pusher_js section of vectors.json, skipping the
// test only when the file is absent.
func loadPusherJS(tb testing.TB) *pusherJSVectors {
	tb.Helper()
	b, err := os.ReadFile(vectorsPath)
	if errors.Is(err, fs.ErrNotExist) {
		tb.Skipf("%s not present", vectorsPath)
	}
	if err != nil {
		tb.Fatal(err)
	}
	var v struct {
		PusherJS pusherJSVectors `json:"pusher_js"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		tb.Fatalf("decode %s: %v", vectorsPath, err)
	}
	if len(v.PusherJS.ClientToServer) == 0 || len(v.PusherJS.ServerToClient) == 0 {
		tb.Fatalf("%s: unexpected shape", vectorsPath)
	}
	return &v.PusherJS
}

// serverFrame returns the recorded server frame with the given label.
func (v *pusherJSVectors) serverFrame(tb testing.TB, label string) string {
	tb.Helper()
	for _, r := range v.ServerToClient {
		if r.Label == label && r.ServerFrame != nil {
			return *r.ServerFrame
		}
	}
	tb.Fatalf("no server frame labelled %q", label)
	return ""
}

package protocol

import (
	"encoding/json"
	"os"
	"testing"
)

// vectorsPath is the repo's copy of the SDK-generated vectors
// (testdata/README.md).
const vectorsPath = "../../testdata/vectors.json"

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

// loadPusherJS reads the pusher_js section of vectors.json; a missing or
// malformed file fails the test.
func loadPusherJS(tb testing.TB) *pusherJSVectors {
	tb.Helper()
	b, err := os.ReadFile(vectorsPath)
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

package signing

import (
	"bytes"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"testing"
)

// vectorsPath is the repo's copy of the SDK-generated vectors
// (testdata/README.md).
const vectorsPath = "../../testdata/vectors.json"

type vectors struct {
	App struct {
		Key, Secret               string
		EncryptionMasterKeyBase64 string `json:"encryption_master_key_base64"`
	} `json:"app"`
	ChannelAuthorization []struct {
		Label string
		Input struct {
			SocketID    string `json:"socket_id"`
			ChannelName string `json:"channel_name"`
		}
		StringToSign string `json:"string_to_sign"`
		Output       struct {
			Auth         string
			ChannelData  *string `json:"channel_data"`
			SharedSecret *string `json:"shared_secret"`
		}
	} `json:"channel_authorization"`
	UserAuthentication []struct {
		Input struct {
			SocketID string `json:"socket_id"`
		}
		StringToSign string `json:"string_to_sign"`
		Output       struct {
			Auth     string
			UserData string `json:"user_data"`
		}
	} `json:"user_authentication"`
	EncryptedChannel struct {
		Channel            string
		SharedSecretHex    string `json:"shared_secret_hex"`
		SharedSecretBase64 string `json:"shared_secret_base64"`
	} `json:"encrypted_channel"`
	HTTPNode []struct {
		Label   string
		Request struct {
			Method, Path, Body string
			RawQuery           string `json:"raw_query"`
		}
		Signing struct {
			BodyMD5       *string `json:"body_md5"`
			StringToSign  string  `json:"string_to_sign"`
			AuthSignature string  `json:"auth_signature"`
		}
	} `json:"http_api_requests_node"`
	HTTPGo []struct {
		Label         string
		Method, Path  string
		Body          *string
		ExtraParams   map[string]string `json:"extra_params"`
		StringToSign  string            `json:"string_to_sign"`
		AuthSignature string            `json:"auth_signature"`
		RawQuery      string            `json:"raw_query_as_sent"`
	} `json:"http_api_requests_go"`
	SignedQueryNode struct {
		Output string
	} `json:"http_api_create_signed_query_string_node"`
	AuthResponsesGo map[string]json.RawMessage `json:"auth_responses_go"`
	Webhooks        []struct {
		Label   string
		RawBody string            `json:"raw_body"`
		Headers map[string]string `json:"headers"`
	} `json:"webhooks"`
	DocsWorkedExamples []struct {
		Label  string
		Output struct {
			Auth        string
			ChannelData *string `json:"channel_data"`
			UserData    *string `json:"user_data"`
		}
		Body                  string
		BodyMD5               string `json:"body_md5"`
		StringToSign          string `json:"string_to_sign"`
		Signature             string
		DocsExpectedAuth      string `json:"docs_expected_auth"`
		DocsExpectedSignature string `json:"docs_expected_signature"`
		MatchesDocs           bool   `json:"matches_docs"`
	} `json:"docs_worked_examples"`
}

// loadVectors reads vectors.json; a missing or malformed file fails the test.
func loadVectors(tb testing.TB) *vectors {
	tb.Helper()
	b, err := os.ReadFile(vectorsPath)
	if err != nil {
		tb.Fatal(err)
	}
	var v vectors
	if err := json.Unmarshal(b, &v); err != nil {
		tb.Fatalf("decode %s: %v", vectorsPath, err)
	}
	if v.App.Key == "" || v.App.Secret == "" || len(v.ChannelAuthorization) == 0 {
		tb.Fatalf("%s: unexpected shape", vectorsPath)
	}
	return &v
}

// TestVectorsCopyCurrent: the repo's copies of vectors.json (testdata and
// the Go SDK's) match the shared spec's, when the shared spec sits beside the
// repo.
func TestVectorsCopyCurrent(t *testing.T) {
	const shared = "../../../shared/spec/vectors.json"
	want, err := os.ReadFile(shared)
	if errors.Is(err, fs.ErrNotExist) {
		t.Skip("no shared spec beside the repo; the copy in testdata is used as it is")
	}
	if err != nil {
		t.Fatal(err)
	}
	// The Go SDK is a module of its own and carries its own copy.
	for _, copyPath := range []string{vectorsPath, "../../pusher/testdata/vectors.json"} {
		got, err := os.ReadFile(copyPath)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from %s: copy the shared file again (testdata/README.md)", copyPath, shared)
		}
	}
}

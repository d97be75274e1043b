package admin

import (
	"fmt"
	"os"
	"strings"
)

// Environment variables read by TokenFromEnv.
const (
	EnvToken     = "HERALD_ADMIN_TOKEN"
	EnvTokenFile = "HERALD_ADMIN_TOKEN_FILE" // a file holding the token (trailing newline ignored)
)

// MinTokenLen is the shortest admin token TokenFromEnv accepts.
const MinTokenLen = 16

// TokenFromEnv returns the admin token from HERALD_ADMIN_TOKEN or the file
// named by HERALD_ADMIN_TOKEN_FILE (lookup reads the environment;
// os.LookupEnv fits). Neither set returns "" and no error: the admin API
// stays off. Both set, an unreadable file or a token shorter than
// MinTokenLen is an error; the message never includes the token.
func TokenFromEnv(lookup func(string) (string, bool)) (string, error) {
	get := func(k string) string {
		if lookup == nil {
			return ""
		}
		v, _ := lookup(k)
		return v
	}
	token, file := get(EnvToken), get(EnvTokenFile)
	switch {
	case token != "" && file != "":
		return "", fmt.Errorf("set %s or %s, not both", EnvToken, EnvTokenFile)
	case file != "":
		data, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("%s: %w", EnvTokenFile, err)
		}
		token = strings.TrimSpace(string(data))
		if token == "" {
			return "", fmt.Errorf("%s: %s is empty", EnvTokenFile, file)
		}
	case token == "":
		return "", nil
	}
	token = strings.TrimSpace(token)
	if len(token) < MinTokenLen {
		return "", fmt.Errorf("the admin token must be at least %d characters", MinTokenLen)
	}
	return token, nil
}

package api

import (
	"net/http"
	"strings"
)

// bearerToken returns the credential of r's "Authorization: Bearer <cred>"
// header: the scheme in any case, the credential with surrounding spaces
// trimmed. It returns "" when the header is missing, names another scheme
// or carries no credential; callers must refuse "".
func bearerToken(r *http.Request) string {
	scheme, cred, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(cred)
}

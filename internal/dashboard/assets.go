package dashboard

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"strconv"
	"strings"
)

// The style sheets and scripts: hand-written, no framework, nothing from a
// CDN; vendor/ holds the copies of third-party files that web/build.js
// makes (go generate). The CSP forbids inline scripts and styles, so they
// live here.
//
//go:embed assets/*
var assetFiles embed.FS

// contentTypes are fixed here rather than read from the system's MIME
// tables, which differ between hosts (nosniff makes the type matter).
var contentTypes = map[string]string{
	".css": "text/css; charset=utf-8",
	".js":  "text/javascript; charset=utf-8",
	".svg": "image/svg+xml",
	".txt": "text/plain; charset=utf-8",
}

type asset struct {
	body        []byte
	contentType string
	version     string // a hash of body: links change when it does
}

type assets struct {
	byName map[string]asset
}

func loadAssets() *assets {
	a := &assets{byName: make(map[string]asset)}
	// Named by their path under assets/: "dashboard.js", "vendor/uPlot.min.css".
	err := fs.WalkDir(assetFiles, "assets", func(name string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		body, err := assetFiles.ReadFile(name)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		ct, ok := contentTypes[path.Ext(name)]
		if !ok {
			ct = "application/octet-stream"
		}
		a.byName[strings.TrimPrefix(name, "assets/")] = asset{body: body, contentType: ct, version: hex.EncodeToString(sum[:6])}
		return nil
	})
	if err != nil {
		panic(err) // embedded at build time: cannot fail
	}
	return a
}

// url is the asset's path with its version, so a browser may cache it for
// good.
func (a *assets) url(name string) string {
	return "/assets/" + name + "?v=" + a.byName[name].version
}

func (h *Handler) asset(w http.ResponseWriter, r *http.Request, c *call) {
	as, ok := h.assets.byName[r.PathValue("name")] // a path under assets/
	if !ok {
		h.notFound(w, r, c)
		return
	}
	w.Header().Set("Content-Type", as.contentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(as.body)))
	if r.URL.Query().Get("v") == as.version {
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		w.Header().Set("Cache-Control", "no-cache")
	}
	if r.Method != http.MethodHead {
		_, _ = w.Write(as.body)
	}
}

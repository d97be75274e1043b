package main

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"

	"github.com/heraldhq/herald/internal/config"
)

// benchCredentials makes `herald serve` then `herald bench` in the same
// directory just work: when none of --app-id, --key and --secret is given
// (and no --start-server, which configures its own server), it takes the
// credentials of serve's embedded default app, read from
// <data-dir>/default-app.json with HERALD_APP_ID, HERALD_APP_KEY and
// HERALD_APP_SECRET over it as serve applies them. The data directory is
// --data-dir, HERALD_DATA_DIR or ./herald-data. Without the file the flag
// defaults stay. It prints one line saying which file was used (never the
// secret) and returns where the credentials came from, for the hint of a
// refused run.
func benchCredentials(d deps, f *benchFlags, changed func(string) bool) (source string, err error) {
	if f.startServer {
		return "generated for --start-server", nil
	}
	if changed("app-id") || changed("key") || changed("secret") {
		return "from the flags", nil
	}
	dir := f.dataDir
	if dir == "" {
		if v, ok := d.env(config.EnvDataDir); ok && v != "" {
			dir = v
		}
	}
	if dir == "" {
		dir = config.DefaultDataDir
	}
	app, err := config.StoredDefaultApp(dir, d.env)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "the built-in defaults: there is no " + filepath.Join(dir, config.DefaultAppFile), nil
	case err != nil:
		return "", &exitError{code: exitUsage, err: fmt.Errorf("default app credentials: %w; or give --app-id, --key and --secret", err)}
	}
	f.appID, f.key, f.secret = app.ID, app.Key, app.Secret
	var fromEnv []string
	for _, name := range []string{config.EnvAppID, config.EnvAppKey, config.EnvAppSecret} {
		if v, ok := d.env(name); ok && v != "" {
			fromEnv = append(fromEnv, name)
		}
	}
	switch {
	case app.StoredIn == "":
		source = "from " + strings.Join(fromEnv, ", ")
	case len(fromEnv) > 0:
		source = "from " + app.StoredIn + " and " + strings.Join(fromEnv, ", ")
	default:
		source = "from " + app.StoredIn
	}
	fmt.Fprintf(d.stderr, "herald bench: credentials of herald serve's default app %s: app id %s, key %s\n", source, app.ID, app.Key)
	return source, nil
}

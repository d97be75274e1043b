package config

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
)

// DefaultAppFile is the name, inside the data directory, of the file holding
// the generated credentials of the embedded default app.
const DefaultAppFile = "default-app.json"

// storedApp is the on-disk form of the generated credentials.
type storedApp struct {
	ID     string `json:"id"`
	Key    string `json:"key"`
	Secret string `json:"secret"`
}

// EnsureDefaultApp gives a configuration with no apps one working app, so
// `herald serve` works out of the box. It does nothing when apps are
// configured. HERALD_APP_ID, HERALD_APP_KEY and HERALD_APP_SECRET (read
// through env; nil: none) set each credential; when all three are set nothing
// is generated or stored and the app counts as configured. Otherwise the
// missing parts come from <data_dir>/default-app.json, which is created on
// first use (directory 0700, file 0600) with credentials shaped like hosted
// Pusher's: a 7-digit numeric id, a 20-hex-char key and a 32-hex-char secret,
// and reused on later starts. The app gets Generated = true and StoredIn set.
//
// generated reports whether new credentials were created (and saved) by this
// call. EnsureDefaultApp runs before ApplyDefaults; an empty DataDir means
// DefaultDataDir.
func EnsureDefaultApp(cfg *Config, env LookupFunc) (generated bool, err error) {
	return ensureDefaultApp(cfg, env, true)
}

// EnsureUnservedDefaultApp is EnsureDefaultApp for a server whose app store
// already holds apps: those are served, the default app is not (the server
// drops it), so no default-app.json is created for it. It still adds the
// app, so that the configuration counts as the embedded default (its admin
// listener and Beams instance, see EnsureEmbeddedAdmin): with credentials
// from the environment and an existing default-app.json, or else generated
// in memory only, with StoredIn "".
func EnsureUnservedDefaultApp(cfg *Config, env LookupFunc) error {
	_, err := ensureDefaultApp(cfg, env, false)
	return err
}

func ensureDefaultApp(cfg *Config, env LookupFunc, save bool) (generated bool, err error) {
	if len(cfg.Apps) > 0 {
		return false, nil
	}
	app, generated, err := defaultAppFrom(cfg.DataDir, env, func(path string) (storedApp, string, bool, error) {
		if save {
			s, generated, err := loadOrCreateDefaultApp(path)
			return s, path, generated, err
		}
		s, err := readDefaultApp(path)
		if errors.Is(err, fs.ErrNotExist) { // not served: made in memory only
			if s, err = newDefaultApp(); err != nil {
				err = fmt.Errorf("generate default app: %w", err)
			}
			return s, "", false, err
		}
		return s, path, false, err
	})
	if err != nil {
		return false, err
	}
	cfg.Apps = append(cfg.Apps, app)
	return generated, nil
}

// StoredDefaultApp returns the embedded default app as `herald serve` runs
// it when no apps are configured, without generating or storing anything:
// each of HERALD_APP_ID, HERALD_APP_KEY and HERALD_APP_SECRET (read through
// env; nil: none) that is set, the rest from <dataDir>/default-app.json
// (empty dataDir: DefaultDataDir), which StoredIn then names. With all three
// set the file is not read. A missing file gives an error matching
// fs.ErrNotExist. Tools that talk to a local serve (herald bench) use it.
func StoredDefaultApp(dataDir string, env LookupFunc) (App, error) {
	app, _, err := defaultAppFrom(dataDir, env, func(path string) (storedApp, string, bool, error) {
		s, err := readDefaultApp(path)
		return s, path, false, err
	})
	return app, err
}

// defaultAppFrom is the default app of dataDir (empty: DefaultDataDir):
// each of HERALD_APP_ID, HERALD_APP_KEY and HERALD_APP_SECRET that is set,
// the rest from get, given the path of default-app.json, which says where
// the app is stored ("" for nowhere) and whether it generated it. With all
// three variables set, get is not called and the app is not Generated.
func defaultAppFrom(dataDir string, env LookupFunc,
	get func(path string) (s storedApp, storedIn string, generated bool, err error)) (App, bool, error) {
	id, okID := lookup(env, EnvAppID)
	key, okKey := lookup(env, EnvAppKey)
	secret, okSecret := lookup(env, EnvAppSecret)
	if okID && okKey && okSecret {
		return App{ID: id, Key: key, Secret: secret}, false, nil
	}
	if dataDir == "" {
		dataDir = DefaultDataDir
	}
	s, storedIn, generated, err := get(filepath.Join(dataDir, DefaultAppFile))
	if err != nil {
		return App{}, false, err
	}
	if !okID {
		id = s.ID
	}
	if !okKey {
		key = s.Key
	}
	if !okSecret {
		secret = s.Secret
	}
	return App{ID: id, Key: key, Secret: secret, Generated: true, StoredIn: storedIn}, generated, nil
}

func loadOrCreateDefaultApp(path string) (storedApp, bool, error) {
	s, err := readDefaultApp(path)
	if err == nil {
		return s, false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return storedApp{}, false, err
	}
	s, err = newDefaultApp()
	if err != nil {
		return storedApp{}, false, fmt.Errorf("generate default app: %w", err)
	}
	created, err := writeNewFile(path, s)
	if err != nil {
		return storedApp{}, false, fmt.Errorf("save default app: %w", err)
	}
	if !created { // another process won the race; use its credentials
		s, err = readDefaultApp(path)
		return s, false, err
	}
	return s, true, nil
}

func readDefaultApp(path string) (storedApp, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return storedApp{}, err
	}
	var s storedApp
	if err := json.Unmarshal(data, &s); err != nil {
		return storedApp{}, fmt.Errorf("%s: %v (delete it to generate new credentials)", path, err)
	}
	if s.ID == "" || s.Key == "" || s.Secret == "" {
		return storedApp{}, fmt.Errorf("%s: id, key and secret must all be set (delete it to generate new credentials)", path)
	}
	return s, nil
}

func newDefaultApp() (storedApp, error) {
	n, err := rand.Int(rand.Reader, big.NewInt(9_000_000))
	if err != nil {
		return storedApp{}, err
	}
	key, err := randomHex(10)
	if err != nil {
		return storedApp{}, err
	}
	secret, err := randomHex(16)
	if err != nil {
		return storedApp{}, err
	}
	return storedApp{ID: fmt.Sprint(1_000_000 + n.Int64()), Key: key, Secret: secret}, nil
}

func randomHex(nbytes int) (string, error) {
	b := make([]byte, nbytes)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// writeNewFile writes s (JSON, or []byte as is) to path (mode 0600, parent 0700) unless path already
// exists, in which case it reports created == false. The file appears
// complete or not at all: it is written aside, then hard-linked into place.
func writeNewFile(path string, s any) (created bool, err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return false, err
	}
	data, ok := s.([]byte) // raw bytes as they are; anything else as JSON
	if !ok {
		if data, err = json.MarshalIndent(s, "", "  "); err != nil {
			return false, err
		}
	}
	tmp, err := os.CreateTemp(dir, ".default-app-*.tmp") // created 0600
	if err != nil {
		return false, err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(data, '\n')); err != nil {
		tmp.Close()
		return false, err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return false, err
	}
	if err := tmp.Close(); err != nil {
		return false, err
	}
	if err := os.Chmod(tmp.Name(), 0o600); err != nil {
		return false, err
	}
	err = os.Link(tmp.Name(), path)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, fs.ErrExist):
		return false, nil
	}
	// Some file systems have no hard links; fall back to exclusive create.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if _, err := f.Write(append(data, '\n')); err != nil {
		f.Close()
		return false, err
	}
	return true, f.Close()
}

package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/google/uuid"
)

// DefaultBeamsFile is the name, inside the data directory, of the file
// holding the generated credentials of the embedded default Beams instance.
const DefaultBeamsFile = "default-beams.json"

type storedBeams struct {
	ID        string `json:"instance_id"`
	SecretKey string `json:"secret_key"`
}

// EnsureDefaultBeams gives the embedded default (no apps configured, so
// EnsureDefaultApp generated one, and no Beams instances) one Beams
// instance, so push notifications work out of the box like Channels do. Its
// id (a random UUID) and secret key are created on first use in
// <data_dir>/default-beams.json (0600) and reused later. A configuration
// with apps or instances of its own is left alone. Run it after
// EnsureDefaultApp, before ApplyDefaults.
func EnsureDefaultBeams(cfg *Config) (generated bool, err error) {
	if len(cfg.Beams.Instances) > 0 || len(cfg.Apps) == 0 {
		return false, nil
	}
	for _, a := range cfg.Apps {
		if !a.Generated {
			return false, nil
		}
	}
	dir := cfg.DataDir
	if dir == "" {
		dir = DefaultDataDir
	}
	path := filepath.Join(dir, DefaultBeamsFile)
	s, err := readDefaultBeams(path)
	if errors.Is(err, fs.ErrNotExist) {
		if s, err = newDefaultBeams(); err != nil {
			return false, fmt.Errorf("generate default beams instance: %w", err)
		}
		var created bool
		if created, err = writeNewFile(path, s); err != nil {
			return false, fmt.Errorf("save default beams instance: %w", err)
		}
		if !created { // another process won the race: use its instance
			s, err = readDefaultBeams(path)
		}
		generated = created
	}
	if err != nil {
		return false, err
	}
	cfg.Beams.Instances = append(cfg.Beams.Instances, BeamsInstance{ID: s.ID, SecretKey: s.SecretKey, Generated: true, StoredIn: path})
	return generated, nil
}

func readDefaultBeams(path string) (storedBeams, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return storedBeams{}, err
	}
	var s storedBeams
	if err := json.Unmarshal(data, &s); err != nil {
		return storedBeams{}, fmt.Errorf("%s: %v (delete it to generate a new instance)", path, err)
	}
	if !ValidBeamsInstanceID(s.ID) || s.SecretKey == "" {
		return storedBeams{}, fmt.Errorf("%s: instance_id must be a UUID and secret_key set (delete it to generate a new instance)", path)
	}
	return s, nil
}

func newDefaultBeams() (storedBeams, error) {
	id, err := uuid.NewRandom()
	if err != nil {
		return storedBeams{}, err
	}
	secret, err := randomHex(32)
	if err != nil {
		return storedBeams{}, err
	}
	return storedBeams{ID: id.String(), SecretKey: secret}, nil
}

// StoredDefaultBeamsID returns the id of the embedded default instance kept
// in dataDir ("" when there is none), so tools managing stored instances
// leave that id alone.
func StoredDefaultBeamsID(dataDir string) string {
	if dataDir == "" {
		dataDir = DefaultDataDir
	}
	s, err := readDefaultBeams(filepath.Join(dataDir, DefaultBeamsFile))
	if err != nil {
		return ""
	}
	return s.ID
}

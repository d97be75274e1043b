package config

import (
	"fmt"
	"reflect"
	"strings"
	"time"
)

//go:generate go run gen_docs.go

// Key describes one configuration key, as docs/configuration.md lists it.
// The list is built from the Config struct by reflection, so it cannot miss
// a key; descriptions, environment variables and flags come from keyDocs.
type Key struct {
	// Path is the dotted path of the key; list elements are written [],
	// e.g. "apps[].webhooks[].url".
	Path string
	// Type is what the value is: "string", "int", "bool", "number",
	// "duration", "section", "list of sections", "list of strings"...
	Type string
	// Default is the value ApplyDefaults gives the key, as YAML would
	// spell it ("" when it has none: a section, a list, an empty string).
	Default string
	// DefaultNote says what the default depends on, when it depends on
	// something (the open-files limit, the data directory...).
	DefaultNote string
	Env         string // HERALD_* variable that sets the key, or ""
	Flag        string // `herald serve` flag that sets the key, or ""
	Doc         string // one line
	// Section reports a key that holds other keys (a section, a list of
	// sections, or an optional section).
	Section bool
}

var (
	durationType = reflect.TypeFor[Duration]()
	secondsType  = reflect.TypeFor[Seconds]()
	timeType     = reflect.TypeFor[time.Time]()
)

// Keys returns every configuration key in file order, sections before the
// keys they hold.
func Keys() []Key {
	// One element in every list, so that list elements get their defaults.
	seed := Config{
		Apps:  []App{{Webhooks: []Webhook{{}}, PreviousSecrets: []PreviousSecret{{}}}},
		Beams: BeamsConfig{Instances: []BeamsInstance{{FCM: &BeamsFCM{}, APNs: &BeamsAPNs{}}}},
	}
	seed.ApplyDefaults()
	var keys []Key
	walkKeys(reflect.ValueOf(seed), "", func(path string, sf reflect.StructField, v reflect.Value) {
		d := keyDocs[path]
		k := Key{Path: path, Type: typeName(sf.Type), DefaultNote: d.note, Env: d.env, Flag: d.flag, Doc: d.doc,
			Section: isSection(sf.Type)}
		if !k.Section {
			k.Default = defaultText(v)
		}
		keys = append(keys, k)
	})
	return keys
}

// walkKeys calls fn for every YAML key of the struct v, depth first; the
// keys of a list's elements are those of its first element (or of a zero
// element when the list is empty).
func walkKeys(v reflect.Value, prefix string, fn func(path string, sf reflect.StructField, v reflect.Value)) {
	t := v.Type()
	for i := range t.NumField() {
		sf := t.Field(i)
		name := yamlName(sf)
		if name == "" {
			continue
		}
		path := name
		if prefix != "" {
			path = prefix + "." + name
		}
		fv := v.Field(i)
		fn(path, sf, fv)
		ft := sf.Type
		switch {
		case isStruct(ft):
			walkKeys(fv, path, fn)
		case ft.Kind() == reflect.Pointer && isStruct(ft.Elem()):
			if fv.IsNil() {
				fv = reflect.New(ft.Elem())
			}
			walkKeys(fv.Elem(), path, fn)
		case ft.Kind() == reflect.Slice && isStruct(ft.Elem()):
			ev := reflect.New(ft.Elem()).Elem()
			if fv.Len() > 0 {
				ev = fv.Index(0)
			}
			walkKeys(ev, path+"[]", fn)
		}
	}
}

// yamlName is the key of a struct field in YAML, "" for fields YAML skips.
func yamlName(sf reflect.StructField) string {
	if !sf.IsExported() {
		return ""
	}
	name, _, _ := strings.Cut(sf.Tag.Get("yaml"), ",")
	if name == "-" {
		return ""
	}
	if name == "" {
		name = strings.ToLower(sf.Name)
	}
	return name
}

// isStruct reports a struct that YAML reads key by key (not a time.Time).
func isStruct(t reflect.Type) bool { return t.Kind() == reflect.Struct && t != timeType }

func isSection(t reflect.Type) bool {
	if t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
		t = t.Elem()
	}
	return isStruct(t)
}

func typeName(t reflect.Type) string {
	switch t {
	case durationType:
		return "duration"
	case secondsType:
		return "duration (whole seconds)"
	case timeType:
		return "time (RFC 3339)"
	}
	switch t.Kind() {
	case reflect.Pointer:
		if isStruct(t.Elem()) {
			return "optional section"
		}
		return typeName(t.Elem())
	case reflect.Struct:
		return "section"
	case reflect.Slice:
		if isStruct(t.Elem()) {
			return "list of sections"
		}
		return "list of " + typeName(t.Elem()) + "s"
	case reflect.Map:
		return "map of " + typeName(t.Key()) + " to " + typeName(t.Elem())
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "bool"
	case reflect.Int, reflect.Int64, reflect.Int32:
		return "int"
	case reflect.Float64, reflect.Float32:
		return "number"
	}
	return t.String()
}

// defaultText spells a default as YAML would; "" for none.
func defaultText(v reflect.Value) string {
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return ""
		}
		v = v.Elem()
	}
	switch v.Type() {
	case durationType:
		return ShortDuration(time.Duration(v.Int()))
	case secondsType:
		return fmt.Sprint(v.Int())
	case timeType:
		return ""
	}
	switch v.Kind() {
	case reflect.String:
		return v.String()
	case reflect.Slice, reflect.Map:
		return ""
	}
	return fmt.Sprint(v.Interface())
}

// ShortDuration writes d without zero units: "30m" rather than "30m0s",
// "2h" rather than "2h0m0s".
func ShortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

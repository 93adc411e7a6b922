package caddymfa

import (
	"path/filepath"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddymfa/caddy-mfa/caddymfa/store"
	"github.com/caddymfa/caddy-mfa/caddymfa/store/boltstore"
)

func init() {
	caddy.RegisterModule(FileStore{})
}

// FileStore is the embedded, durable store (http.mfa.stores.file): one
// file, by default mfa/store.db in Caddy's data directory. One Caddy
// process at a time may open it; run several instances on Redis instead.
type FileStore struct {
	// Path of the database file. Placeholders are resolved.
	Path string `json:"path,omitempty"`

	path string
}

// CaddyModule returns the Caddy module information.
func (FileStore) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.mfa.stores.file",
		New: func() caddy.Module { return new(FileStore) },
	}
}

// Provision resolves the path.
func (fs *FileStore) Provision(caddy.Context) error {
	p := caddy.NewReplacer().ReplaceAll(fs.Path, "")
	if p == "" {
		p = filepath.Join(caddy.AppDataDir(), "mfa", "store.db")
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return err
	}
	fs.path = abs
	return nil
}

// PoolKey makes every handler on the same file share one open database.
func (fs *FileStore) PoolKey() string { return "file:" + fs.path }

// DataName is the file: one backend per file, so the pool key.
func (fs *FileStore) DataName() string { return fs.PoolKey() }

// OpenStore opens the database file.
func (fs *FileStore) OpenStore(caddy.Context) (store.Store, error) {
	return boltstore.Open(fs.path, boltstore.Options{Now: clock})
}

// UnmarshalCaddyfile reads `store file [path]` (the path only).
func (fs *FileStore) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // "file"
	if d.NextArg() {
		fs.Path = d.Val()
	}
	if d.NextArg() {
		return d.ArgErr()
	}
	if d.NextBlock(d.Nesting()) {
		return d.Errf("store file: takes a path only, no block (got %q)", d.Val())
	}
	return nil
}

// Interface guards
var (
	_ caddy.Provisioner     = (*FileStore)(nil)
	_ StoreOpener           = (*FileStore)(nil)
	_ dataNamer             = (*FileStore)(nil)
	_ caddyfile.Unmarshaler = (*FileStore)(nil)
)

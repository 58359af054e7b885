//go:build !unix

package log

import (
	"fmt"
	"os"
	"path/filepath"
)

// lockDir creates "<dir>/.lock". Without flock on this platform the file
// only marks the directory; it does not exclude a second broker.
func lockDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, lockFile), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock log dir %s: %w", dir, err)
	}
	return f, nil
}

//go:build linux || darwin || freebsd || dragonfly

package handlers

import (
	"fmt"
	"syscall"
)

// volumeSpace returns the total and usable bytes of the volume holding
// path, as Java's FileStore.getTotalSpace and getUsableSpace do (blocks and
// blocks available to unprivileged users, times the block size).
func volumeSpace(path string) (total, usable int64, err error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return -1, -1, fmt.Errorf("statfs %s: %w", path, err)
	}
	return volumeBytes(st.Blocks, st.Bsize), volumeBytes(st.Bavail, st.Bsize), nil
}

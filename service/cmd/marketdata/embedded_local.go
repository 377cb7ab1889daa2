//go:build !image

package main

import (
	"log/slog"

	"github.com/cryptotracker/ctmd/service/embedded"
)

// startEmbedded runs FerretDB in process for `make run` and `go run`: no database to install.
func startEmbedded(dataDir string, logger *slog.Logger) (uri string, stop func(), err error) {
	srv, err := embedded.Start(dataDir, "127.0.0.1:0", logger)
	if err != nil {
		return "", nil, err
	}
	logger.Info("using the embedded store (FerretDB, SQLite files); set "+envConnectionString+" to use MongoDB",
		"store", "embedded", "data_dir", dataDir, "addr", srv.Addr())
	return srv.URI(), srv.Stop, nil
}

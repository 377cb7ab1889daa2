//go:build image

package main

import (
	"errors"
	"log/slog"
)

// The image must never fall back to a local throwaway store: a pod that forgot its Secret would
// otherwise serve data nobody else sees.
func startEmbedded(string, *slog.Logger) (string, func(), error) {
	return "", nil, errors.New(envConnectionString + " is not set, and this build (the container image) has no embedded store: " +
		"set it to the mongodb:// or mongodb+srv:// connection string of the database")
}

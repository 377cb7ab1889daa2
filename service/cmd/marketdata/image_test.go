package main

import (
	"bufio"
	"bytes"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cryptotracker/ctmd/internal/testlog"
	"github.com/cryptotracker/ctmd/service/internal/testdb"
)

const repoRoot = "../../.."

// buildImageBinary builds the container's binary exactly as the Dockerfile does: `make image-bin`.
func buildImageBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "marketdata")
	cmd := exec.Command("make", "--no-print-directory", "-C", repoRoot, "image-bin", "IMAGE_BIN="+bin)
	cmd.Env = append(os.Environ(), "MAKEFLAGS=", "MAKELEVEL=")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make image-bin: %v\n%s", err, out)
	}
	return bin
}

func TestImageBinary(t *testing.T) {
	bin := buildImageBinary(t)

	info, err := os.Stat(bin)
	if err != nil {
		t.Fatal(err)
	}
	// distroless/static is about 2 MB; the image must stay within 25 MB.
	if info.Size() > 23<<20 {
		t.Errorf("image binary is %d bytes; the image would exceed 25 MB", info.Size())
	}
	mods, err := exec.Command("go", "version", "-m", bin).CombinedOutput()
	if err != nil {
		t.Fatalf("go version -m: %v\n%s", err, mods)
	}
	// -ldflags is not recorded with -trimpath; the symbol table's absence shows -s.
	if f, err := elf.Open(bin); err != nil {
		t.Error(err)
	} else {
		if f.Section(".symtab") != nil {
			t.Error("image binary is not stripped (-ldflags -s)")
		}
		_ = f.Close()
	}
	for _, want := range []string{"-tags=image", "CGO_ENABLED=0", "-trimpath=true"} {
		if !strings.Contains(string(mods), want) {
			t.Errorf("image binary not built with %s:\n%s", want, mods)
		}
	}
	if strings.Contains(string(mods), "FerretDB") || strings.Contains(string(mods), "sqlite") {
		t.Errorf("the embedded store is linked into the image binary:\n%s", mods)
	}

	t.Run("no connection string", func(t *testing.T) {
		cmd := exec.Command(bin)
		cmd.Env = []string{"MARKETDATA_ADDR=127.0.0.1:0"}
		out, err := cmd.CombinedOutput()
		if err == nil || cmd.ProcessState.ExitCode() == 0 {
			t.Fatalf("exited 0 without %s:\n%s", envConnectionString, out)
		}
		if !strings.Contains(string(out), envConnectionString+" is not set") {
			t.Errorf("message does not say %s is missing:\n%s", envConnectionString, out)
		}
	})

	t.Run("serves and drains on SIGTERM", func(t *testing.T) {
		cmd := exec.Command(bin)
		cmd.Env = []string{
			envConnectionString + "=" + testdb.URI(),
			envDatabase + "=" + testdb.Database(t),
			envAddr + "=127.0.0.1:0",
			envShutdownDelay + "=0s",
		}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { _ = cmd.Process.Kill() }()
		logs := &testlog.Buffer{}
		lines := bufio.NewScanner(stdout)
		addr := make(chan string, 1)
		go func() {
			for lines.Scan() {
				_, _ = logs.Write(append(lines.Bytes(), '\n'))
				if a := logField(lines.Text(), "listening", "addr"); a != "" {
					addr <- a
				}
			}
		}()
		var url string
		select {
		case a := <-addr:
			url = "http://" + a
		case <-time.After(15 * time.Second):
			t.Fatalf("no listening line; stderr:\n%s", stderr.String())
		}
		waitStatus(t, url+"/readyz", 200)
		if _, body := get(t, url+"/api/v1/currencies"); body != testdb.SeededList {
			t.Errorf("list = %s", body)
		}
		if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("exit after SIGTERM: %v; stderr:\n%s", err, stderr.String())
			}
		case <-time.After(15 * time.Second):
			t.Fatal("still running 15 s after SIGTERM")
		}
		if !strings.Contains(logs.String(), `"msg":"stopped"`) {
			t.Errorf("no clean stop in the logs:\n%s", logs)
		}
	})
}

// The Dockerfile cannot be built here (no Docker engine), so its contract is checked as text:
// the builder is the pinned Go, it builds through the same make target, and the final stage is
// distroless, non-root, on 8080.
func TestDockerfile(t *testing.T) {
	dockerfile, err := os.ReadFile(filepath.Join(repoRoot, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	versions, err := os.ReadFile(filepath.Join(repoRoot, "versions.env"))
	if err != nil {
		t.Fatal(err)
	}
	want := regexp.MustCompile(`(?m)^GO_VERSION=(\S+)$`).FindSubmatch(versions)
	got := regexp.MustCompile(`(?m)^ARG GO_VERSION=(\S+)$`).FindSubmatch(dockerfile)
	if want == nil || got == nil || string(got[1]) != string(want[1]) {
		t.Fatalf("Dockerfile ARG GO_VERSION %q != versions.env GO_VERSION %q", got, want)
	}
	for _, line := range []string{
		"FROM golang:${GO_VERSION}-bookworm AS build",
		"    make image-bin IMAGE_BIN=/out/marketdata ",
		"FROM gcr.io/distroless/static-debian12:nonroot",
		"EXPOSE 8080",
		"USER nonroot:nonroot",
		`ENTRYPOINT ["/marketdata"]`,
	} {
		if !bytes.Contains(dockerfile, []byte(line)) {
			t.Errorf("Dockerfile lacks %q", line)
		}
	}
	// Everything the build stage COPYs must get past .dockerignore.
	ignore, err := os.ReadFile(filepath.Join(repoRoot, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range regexp.MustCompile(`(?m)^COPY ([^-].*) \S+$`).FindAllSubmatch(dockerfile, -1) {
		for _, src := range strings.Fields(string(m[1])) {
			if !bytes.Contains(ignore, []byte("!"+src)) {
				t.Errorf(".dockerignore does not let %s through", src)
			}
		}
	}
}

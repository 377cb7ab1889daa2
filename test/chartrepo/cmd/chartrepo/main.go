// Command chartrepo packages the Istio charts of a downloaded istio.io/istio module under the given
// versions, and cert-manager's chart of a downloaded github.com/cert-manager/cert-manager module
// under its release version, and serves them as a Helm repository on a loopback address until it
// is stopped; with a downloaded github.com/argoproj/argo-rollouts module, it also serves that
// release's install manifest at /argo-rollouts/<version>/install.yaml. The local cluster
// (hack/cluster.sh) runs it; see package chartrepo for what the versions mean.
//
//	chartrepo -module <dir of istio.io/istio@version> -listen 127.0.0.1:PORT -out <dir> -versions 1.30.2[,1.31.0] \
//	    -cert-manager-module <dir of github.com/cert-manager/cert-manager@vX.Y.Z> -cert-manager-version vX.Y.Z \
//	    [-argo-rollouts-module <dir of github.com/argoproj/argo-rollouts@vX.Y.Z> -argo-rollouts-version vX.Y.Z]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/cryptotracker/ctmd/test/chartrepo"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "chartrepo:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("chartrepo", flag.ContinueOnError)
	module := fs.String("module", "", "directory of the downloaded istio.io/istio module")
	listen := fs.String("listen", "127.0.0.1:0", "loopback address to serve on")
	out := fs.String("out", "", "directory to write the packaged charts and index.yaml into")
	versions := fs.String("versions", "", "comma-separated chart versions to package the charts as")
	certManager := fs.String("cert-manager-module", "", "directory of the downloaded github.com/cert-manager/cert-manager module")
	certManagerVersion := fs.String("cert-manager-version", "", "the version of that module (its release tag)")
	argoRollouts := fs.String("argo-rollouts-module", "", "directory of the downloaded github.com/argoproj/argo-rollouts module (optional)")
	argoRolloutsVersion := fs.String("argo-rollouts-version", "", "the version of that module (its release tag)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *module == "" || *out == "" || *versions == "" || *certManager == "" || *certManagerVersion == "" {
		return errors.New("-module, -out, -versions, -cert-manager-module and -cert-manager-version are required")
	}
	if (*argoRollouts == "") != (*argoRolloutsVersion == "") {
		return errors.New("-argo-rollouts-module and -argo-rollouts-version go together")
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	list := strings.Split(*versions, ",")
	charts := append(chartrepo.IstioCharts(filepath.Join(*module, "manifests", "charts"), list), chartrepo.Chart{
		Name: "cert-manager", Dir: filepath.Join(*certManager, chartrepo.CertManagerChart), Versions: []string{*certManagerVersion},
	})
	if err := chartrepo.Write(*out, charts); err != nil {
		return err
	}
	if *argoRollouts != "" {
		if err := chartrepo.WriteArgoRollouts(*out, *argoRollouts, *argoRolloutsVersion); err != nil {
			return fmt.Errorf("argo-rollouts %s: %w", *argoRolloutsVersion, err)
		}
	}
	// The development branch's own version, so every log says which charts really run.
	devVersion, err := os.ReadFile(filepath.Join(*module, "VERSION"))
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	log.Info("serving Istio charts", "url", "http://"+ln.Addr().String(), "module", filepath.Base(*module),
		"moduleVersionFile", strings.TrimSpace(string(devVersion)), "packagedAs", list,
		"note", "the Istio charts are the module commit's, labelled with these versions",
		"certManager", *certManagerVersion, "argoRollouts", *argoRolloutsVersion)

	srv := &http.Server{Handler: http.FileServer(http.Dir(*out)), ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown) // best effort: the process exits right after
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

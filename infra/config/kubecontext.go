package config

import (
	"os"
	"path/filepath"

	"sigs.k8s.io/yaml"
)

// currentContext returns the current-context a kubeconfig selects, or "" when it names none.
func currentContext(kubeconfig []byte) string {
	var kc struct {
		CurrentContext string `json:"current-context"`
	}
	if yaml.Unmarshal(kubeconfig, &kc) != nil {
		return ""
	}
	return kc.CurrentContext
}

// ambientContext is the current-context kubectl would use: the first file in $KUBECONFIG that
// sets one, else ~/.kube/config. The kubernetes provider reads the same files when it is given
// no kubeconfig.
func ambientContext() string {
	files := filepath.SplitList(os.Getenv("KUBECONFIG"))
	if len(files) == 0 {
		if home, err := os.UserHomeDir(); err == nil {
			files = []string{filepath.Join(home, ".kube", "config")}
		}
	}
	for _, f := range files {
		if data, err := os.ReadFile(f); err == nil {
			if name := currentContext(data); name != "" {
				return name
			}
		}
	}
	return ""
}

// KubeconfigContents is ctmd:kubeconfig, for a client of the program's own that must reach the
// cluster the provider deploys into; nil when the ambient kubeconfig is used.
func (c *Config) KubeconfigContents() []byte { return c.kubeconfig }

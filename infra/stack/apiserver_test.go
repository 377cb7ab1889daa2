package stack

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// apiServer is a Kubernetes API server on loopback that answers the one request the program makes
// of an existing cluster before it declares anything: the Deployments matching a label selector,
// as metadata. It records the selectors it was asked for.
type apiServer struct {
	*httptest.Server
	mu        sync.Mutex
	selectors []string
}

// newAPIServer serves deployments (each matching every selector: the test chooses what the
// cluster runs) and returns it with a kubeconfig that points at it, for ctmd:kubeconfig.
func newAPIServer(t *testing.T, deployments ...metav1.PartialObjectMetadata) (*apiServer, string) {
	t.Helper()
	s := &apiServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || r.URL.Path != "/apis/apps/v1/deployments" {
			http.Error(w, "not served here: "+r.Method+" "+r.URL.Path, http.StatusNotFound)
			return
		}
		s.mu.Lock()
		s.selectors = append(s.selectors, r.URL.Query().Get("labelSelector"))
		s.mu.Unlock()
		list := metav1.PartialObjectMetadataList{TypeMeta: metav1.TypeMeta{APIVersion: "meta.k8s.io/v1", Kind: "PartialObjectMetadataList"}}
		for _, d := range deployments {
			d.TypeMeta = metav1.TypeMeta{APIVersion: "meta.k8s.io/v1", Kind: "PartialObjectMetadata"}
			list.Items = append(list.Items, d)
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(list) // the client reports a broken answer
	}))
	t.Cleanup(s.Close)
	kubeconfig := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- cluster: {server: %q}
  name: loopback
contexts:
- context: {cluster: loopback, user: loopback}
  name: loopback
current-context: loopback
users:
- name: loopback
  user: {token: not-a-secret}
`, s.URL)
	return s, kubeconfig
}

func (s *apiServer) asked() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.selectors, " ")
}

// certManagerController is cert-manager's controller Deployment as an installation leaves it.
func certManagerController(namespace string, annotations map[string]string, manager string) metav1.PartialObjectMetadata {
	return metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{
		Namespace: namespace, Name: "cert-manager", Annotations: annotations,
		ManagedFields: []metav1.ManagedFieldsEntry{{Manager: manager, Operation: metav1.ManagedFieldsOperationApply}},
	}}
}

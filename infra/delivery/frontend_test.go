package delivery

import (
	"net/url"
	"slices"
	"strconv"
	"testing"

	"github.com/cryptotracker/ctmd/infra/config"
	"github.com/cryptotracker/ctmd/infra/internal/mockstack"
)

// On gke the engine queries Managed Prometheus through Google's query frontend, which acts as a
// Google service account of its own holding monitoring.viewer on the project, through Workload
// Identity for its Kubernetes service account, and which only the controller may reach; the
// controller waits for it, and its Service is config.FrontendURL.
func TestManagedFrontend(t *testing.T) {
	s, err := run(t, setup{url: manifestURL(serve(t, nil)), managedFrontend: true})
	if err != nil {
		t.Fatal(err)
	}
	const email = "ctmd-cluster-query@ctmd-dev-123.iam.gserviceaccount.com"
	sa := s.Find(t, "gcp:serviceaccount/account:Account", "ctmd-cluster-query")
	mockstack.AssertJSON(t, "service account", mockstack.Plain(sa.Inputs), `{"project": "ctmd-dev-123", "accountId": "ctmd-cluster-query",
		"displayName": "Managed Prometheus query frontend of ctmd-cluster (Argo Rollouts' analysis)"}`)
	viewer := s.Find(t, "gcp:projects/iAMMember:IAMMember", "ctmd-cluster-query-monitoringViewer")
	mockstack.AssertJSON(t, "role", mockstack.Plain(viewer.Inputs), `{"project": "ctmd-dev-123", "role": "roles/monitoring.viewer", "member": "serviceAccount:`+email+`"}`)
	wi := s.Find(t, "gcp:serviceaccount/iAMMember:IAMMember", "ctmd-cluster-query-workloadIdentityUser")
	mockstack.AssertJSON(t, "workload identity", mockstack.Plain(wi.Inputs), `{"serviceAccountId": "projects/ctmd-dev-123/serviceAccounts/`+email+`",
		"role": "roles/iam.workloadIdentityUser", "member": "serviceAccount:ctmd-dev-123.svc.id.goog[argo-rollouts/gmp-frontend]"}`)
	if !slices.Contains(wi.DependsOn, provider) {
		t.Errorf("workload identity binding after %v, want the cluster's provider (its workload pool)", wi.DependsOn)
	}
	for _, r := range []mockstack.Resource{sa, viewer, wi} {
		if r.Parent != component {
			t.Errorf("%s parent %q", r.Name, r.Parent)
		}
	}

	ksa := mockstack.Plain(s.Find(t, "kubernetes:core/v1:ServiceAccount", FrontendName).Inputs)
	if a, _ := mockstack.Get(ksa, "metadata.annotations").(map[string]any); a[workloadIdentityAnnotation] != email || mockstack.Get(ksa, "metadata.namespace") != Namespace {
		t.Errorf("frontend service account %v, want it in %s acting as %s", ksa, Namespace, email)
	}

	d := s.Find(t, "kubernetes:apps/v1:Deployment", FrontendName)
	deployment := mockstack.Plain(d.Inputs)
	mockstack.AssertJSON(t, "frontend container", mockstack.Get(deployment, "spec.template.spec.containers.0"), `{
		"name": "frontend",
		"image": "gke.gcr.io/prometheus-engine/frontend:v0.15.3-gke.0",
		"args": ["--web.listen-address=:9090", "--query.project-id=ctmd-dev-123"],
		"ports": [{"name": "web", "containerPort": 9090, "protocol": "TCP"}],
		"readinessProbe": {"httpGet": {"path": "/-/ready", "port": "web"}, "periodSeconds": 10, "timeoutSeconds": 2, "failureThreshold": 3},
		"livenessProbe": {"httpGet": {"path": "/-/healthy", "port": "web"}, "periodSeconds": 10, "timeoutSeconds": 2, "failureThreshold": 3},
		"resources": {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"memory": "128Mi"}},
		"securityContext": {"runAsNonRoot": true, "runAsUser": 1000, "runAsGroup": 1000, "readOnlyRootFilesystem": true,
			"allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}},
		"volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}]
	}`)
	if got := mockstack.Get(deployment, "spec.template.spec.serviceAccountName"); got != FrontendName {
		t.Errorf("frontend pods run as %v", got)
	}
	for _, dep := range []string{
		"kubernetes:core/v1:ServiceAccount::" + FrontendName,
		"gcp:projects/iAMMember:IAMMember::ctmd-cluster-query-monitoringViewer",
		"gcp:serviceaccount/iAMMember:IAMMember::ctmd-cluster-query-workloadIdentityUser",
		nsRef,
	} {
		if !slices.Contains(d.DependsOn, dep) {
			t.Errorf("frontend after %v, want %s", d.DependsOn, dep)
		}
	}

	svc := mockstack.Plain(s.Find(t, "kubernetes:core/v1:Service", FrontendName).Inputs)
	port, _ := mockstack.Get(svc, "spec.ports.0.port").(float64)
	u, err := url.Parse(config.FrontendURL)
	if err != nil {
		t.Fatal(err)
	}
	if want := "http://" + mockstack.Get(svc, "metadata.name").(string) + "." + mockstack.Get(svc, "metadata.namespace").(string) +
		".svc.cluster.local:" + strconv.Itoa(int(port)); want != config.FrontendURL || u.Port() != strconv.Itoa(FrontendPort) {
		t.Errorf("the frontend's Service is %s, config.FrontendURL %s", want, config.FrontendURL)
	}
	if got := mockstack.Get(svc, "spec.ports.0.targetPort"); got != "web" {
		t.Errorf("Service targets %v", got)
	}

	policy := mockstack.Plain(s.Find(t, "kubernetes:networking.k8s.io/v1:NetworkPolicy", FrontendName).Inputs)
	mockstack.AssertJSON(t, "network policy", policy["spec"], `{
		"podSelector": {"matchLabels": {"app.kubernetes.io/name": "gmp-frontend"}},
		"policyTypes": ["Ingress"],
		"ingress": [{"from": [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "argo-rollouts"}}}], "ports": [{"port": 9090, "protocol": "TCP"}]}]
	}`)
	// The controller's pods carry the label the policy admits.
	controller := s.Find(t, "kubernetes:apps/v1:Deployment", Controller)
	labels, _ := mockstack.Get(mockstack.Plain(controller.Inputs), "spec.template.metadata.labels").(map[string]any)
	if labels["app.kubernetes.io/name"] != Controller {
		t.Errorf("controller pod labels %v, which the frontend's policy does not admit", labels)
	}
	if !slices.Contains(controller.DependsOn, "kubernetes:apps/v1:Deployment::"+FrontendName) {
		t.Errorf("controller after %v, want the frontend", controller.DependsOn)
	}
}

// Package ci checks the GitHub workflows: what triggers them, what they may do, and what they
// pass to the actions, so a broken preview pipeline fails `make test` rather than a pull request.
package ci

import (
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/cryptotracker/ctmd/infra/internal/pins"
)

type workflow struct {
	On          map[string]any    `json:"on"`
	Permissions map[string]string `json:"permissions"`
	Env         map[string]string `json:"env"`
	Jobs        map[string]job    `json:"jobs"`
}

type job struct {
	If          string            `json:"if"`
	RunsOn      any               `json:"runs-on"`
	Permissions map[string]string `json:"permissions"`
	Env         map[string]string `json:"env"`
	Steps       []step            `json:"steps"`
}

type step struct {
	ID   string            `json:"id"`
	If   string            `json:"if"`
	Uses string            `json:"uses"`
	With map[string]any    `json:"with"`
	Env  map[string]string `json:"env"`
	Run  string            `json:"run"`
}

func load(t *testing.T, name string) workflow {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", ".github", "workflows", name))
	if err != nil {
		t.Fatal(err)
	}
	// YAML 1.1 reads a bare `on` key as the boolean true; give it back its name.
	var raw map[string]any
	if err := yaml.Unmarshal(data, &raw); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if on, ok := raw["true"]; ok {
		raw["on"] = on
		delete(raw, "true")
	}
	normalized, err := yaml.Marshal(raw)
	if err != nil {
		t.Fatal(err)
	}
	var w workflow
	if err := yaml.Unmarshal(normalized, &w); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return w
}

// stepUsing returns the index and step of the first step using action (owner/name), which must
// be pinned to a major version or a commit.
func stepUsing(t *testing.T, j job, action string) (int, step) {
	t.Helper()
	for i, s := range j.Steps {
		if name, _, _ := strings.Cut(s.Uses, "@"); name == action {
			return i, s
		}
	}
	t.Fatalf("no step uses %s", action)
	return -1, step{}
}

func TestPreviewWorkflow(t *testing.T) {
	w := load(t, "preview.yml")
	if !reflect.DeepEqual(w.On, map[string]any{"pull_request": map[string]any{"branches": []any{"main"}}}) {
		t.Errorf("preview must run on pull requests to main only, on: %v", w.On)
	}
	wantPerms := map[string]string{"contents": "read", "id-token": "write", "pull-requests": "write"}
	if !reflect.DeepEqual(w.Permissions, wantPerms) {
		t.Errorf("permissions %v, want %v", w.Permissions, wantPerms)
	}
	j, ok := w.Jobs["preview"]
	if !ok || len(w.Jobs) != 1 {
		t.Fatalf("want one job named preview, got %v", w.Jobs)
	}
	if j.Permissions != nil {
		t.Errorf("job overrides the workflow permissions: %v", j.Permissions)
	}
	// The preview reaches the API server, which admits only ctmd:masterAuthorizedNetworks.
	if j.RunsOn != previewRunner {
		t.Errorf("runs-on %v, want %s (a runner allowed by masterAuthorizedNetworks)", j.RunsOn, previewRunner)
	}
	if j.Env["PULUMI_ACCESS_TOKEN"] != "${{ secrets.PULUMI_ACCESS_TOKEN }}" ||
		j.Env["PULUMI_CONFIG_PASSPHRASE"] != "${{ secrets.PULUMI_CONFIG_PASSPHRASE }}" {
		t.Errorf("Pulumi backend credentials must come from secrets: %v", j.Env)
	}

	goIdx, setupGo := stepUsing(t, j, "actions/setup-go")
	if setupGo.With["go-version-file"] != "go.mod" {
		t.Errorf("setup-go with %v, want go-version-file go.mod", setupGo.With)
	}
	authIdx, auth := stepUsing(t, j, "google-github-actions/auth")
	wantAuth := map[string]any{
		"workload_identity_provider": "${{ secrets.GCP_WORKLOAD_IDENTITY_PROVIDER }}",
		"service_account":            "${{ secrets.GCP_SERVICE_ACCOUNT }}",
	}
	if !reflect.DeepEqual(auth.With, wantAuth) {
		t.Errorf("auth with %v, want workload identity federation %v", auth.With, wantAuth)
	}
	gcloudIdx, gcloud := stepUsing(t, j, "google-github-actions/setup-gcloud")
	if !slices.Contains(strings.Fields(strings.ReplaceAll(toString(gcloud.With["install_components"]), ",", " ")), "gke-gcloud-auth-plugin") {
		t.Errorf("setup-gcloud must install gke-gcloud-auth-plugin: %v", gcloud.With)
	}
	pulumiIdx, pulumi := stepUsing(t, j, "pulumi/actions")
	if pulumi.With["command"] != "preview" || pulumi.With["comment-on-pr"] != true ||
		pulumi.With["github-token"] != "${{ secrets.GITHUB_TOKEN }}" || toString(pulumi.With["stack-name"]) == "" {
		t.Errorf("pulumi/actions with %v: want command preview, comment-on-pr true, the GITHUB_TOKEN and a stack", pulumi.With)
	}
	pinned, err := pins.Version("PULUMI_VERSION")
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.TrimPrefix(pinned, "v"); pulumi.With["pulumi-version"] != want {
		t.Errorf("pulumi-version %v, want versions.env PULUMI_VERSION %s", pulumi.With["pulumi-version"], want)
	}
	if goIdx > pulumiIdx || authIdx > pulumiIdx || gcloudIdx > pulumiIdx {
		t.Error("Go, Google credentials and the auth plugin must be set up before pulumi runs")
	}
}

func TestTestWorkflow(t *testing.T) {
	w := load(t, "test.yml")
	if _, push := w.On["push"]; !push {
		t.Errorf("test must run on push: %v", w.On)
	}
	if _, pr := w.On["pull_request"]; !pr {
		t.Errorf("test must run on pull requests: %v", w.On)
	}
	var runs []string
	for _, s := range w.Jobs["test"].Steps {
		runs = append(runs, s.Run)
	}
	if !slices.Contains(runs, "go vet ./...") || !slices.Contains(runs, "make test") {
		t.Errorf("test job runs %q, want go vet ./... and make test", runs)
	}
	if _, setupGo := stepUsing(t, w.Jobs["test"], "actions/setup-go"); setupGo.With["go-version-file"] != "go.mod" {
		t.Errorf("setup-go with %v", setupGo.With)
	}
}

func TestImageWorkflow(t *testing.T) {
	w := load(t, "image.yml")
	if !reflect.DeepEqual(w.On, map[string]any{"push": map[string]any{"tags": []any{"v*"}}}) {
		t.Errorf("image must build on v* tags only, on: %v", w.On)
	}
	if w.Permissions["id-token"] != "write" || w.Permissions["contents"] != "read" || len(w.Permissions) != 2 {
		t.Errorf("permissions %v", w.Permissions)
	}
	j := w.Jobs["image"]
	_, auth := stepUsing(t, j, "google-github-actions/auth")
	if auth.With["token_format"] != "access_token" || auth.With["workload_identity_provider"] == nil {
		t.Errorf("auth with %v", auth.With)
	}
	// The registry comes from the stack's repository, so it follows gcp:zone.
	if w.Env["IMAGE_REPOSITORY"] != "${{ vars.IMAGE_REPOSITORY }}" || j.Steps[1].ID != "registry" ||
		!strings.Contains(j.Steps[1].Run, `echo "host=${IMAGE_REPOSITORY%%/*}" >> "$GITHUB_OUTPUT"`) {
		t.Errorf("the registry must be the host of the stack's imageRepository: env %v, step %+v", w.Env, j.Steps[1])
	}
	_, login := stepUsing(t, j, "docker/login-action")
	if login.With["registry"] != "${{ steps.registry.outputs.host }}" ||
		login.With["username"] != "oauth2accesstoken" || login.With["password"] != "${{ steps."+auth.ID+".outputs.access_token }}" {
		t.Errorf("docker login with %v", login.With)
	}
	// One version tag, pushed once through make push (which refuses latest), and its digest
	// reported; nothing else is pushed.
	last := j.Steps[len(j.Steps)-1]
	if last.Env["TAG"] != "${{ github.ref_name }}" || !strings.Contains(last.Run, `image="$IMAGE_REPOSITORY/marketdata:$TAG"`) ||
		!strings.Contains(last.Run, `ref=$(make -s push IMAGE="$image")`) || !strings.Contains(last.Run, `"$GITHUB_STEP_SUMMARY"`) ||
		strings.Count(last.Run, "make -s push") != 1 || strings.Contains(last.Run, "latest") || strings.Contains(last.Run, "docker ") {
		t.Errorf("last step must push the version tag alone with make push and report its digest: %+v", last)
	}
}

// Every action is pinned at least to a major version, so a moved branch cannot change CI.
func TestActionsArePinned(t *testing.T) {
	pinned := regexp.MustCompile(`^[\w.-]+/[\w./-]+@(v\d+(\.\d+){0,2}|[0-9a-f]{40})$`)
	files, err := filepath.Glob(filepath.Join("..", "..", ".github", "workflows", "*.yml"))
	if err != nil || len(files) != 4 {
		t.Fatalf("workflows %v, %v", files, err)
	}
	for _, f := range files {
		for name, j := range load(t, filepath.Base(f)).Jobs {
			for _, s := range j.Steps {
				if s.Uses != "" && !pinned.MatchString(s.Uses) {
					t.Errorf("%s job %s: %q is not pinned", filepath.Base(f), name, s.Uses)
				}
			}
		}
	}
}

// previewRunner is the runner of every job that talks to the cluster: a repository variable,
// because hosted runners have no fixed address for masterAuthorizedNetworks to admit.
const previewRunner = "${{ vars.PREVIEW_RUNNER || 'ubuntu-latest' }}"

// The drift check runs daily, refreshes before previewing, fails on any proposed change, and
// reports a failure as an issue.
func TestDriftWorkflow(t *testing.T) {
	w := load(t, "drift.yml")
	schedule, _ := w.On["schedule"].([]any)
	if len(schedule) != 1 || !regexp.MustCompile(`^\d+ \d+ \* \* \*$`).MatchString(toString(schedule[0].(map[string]any)["cron"])) {
		t.Errorf("drift must run once a day, on: %v", w.On)
	}
	wantPerms := map[string]string{"contents": "read", "id-token": "write", "issues": "write"}
	if !reflect.DeepEqual(w.Permissions, wantPerms) {
		t.Errorf("permissions %v, want %v", w.Permissions, wantPerms)
	}
	j, ok := w.Jobs["drift"]
	if !ok || len(w.Jobs) != 1 {
		t.Fatalf("want one job named drift, got %v", w.Jobs)
	}
	if j.RunsOn != previewRunner {
		t.Errorf("runs-on %v, want %s", j.RunsOn, previewRunner)
	}
	_, auth := stepUsing(t, j, "google-github-actions/auth")
	if auth.With["workload_identity_provider"] != "${{ secrets.GCP_WORKLOAD_IDENTITY_PROVIDER }}" {
		t.Errorf("auth with %v", auth.With)
	}
	_, gcloud := stepUsing(t, j, "google-github-actions/setup-gcloud")
	if toString(gcloud.With["install_components"]) != "gke-gcloud-auth-plugin" {
		t.Errorf("setup-gcloud with %v", gcloud.With)
	}
	pulumiIdx, pulumi := stepUsing(t, j, "pulumi/actions")
	if pulumi.With["command"] != "preview" || pulumi.With["refresh"] != true || pulumi.With["expect-no-changes"] != true {
		t.Errorf("pulumi/actions with %v: want preview with refresh and expect-no-changes", pulumi.With)
	}
	pinned, err := pins.Version("PULUMI_VERSION")
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.TrimPrefix(pinned, "v"); pulumi.With["pulumi-version"] != want {
		t.Errorf("pulumi-version %v, want %s", pulumi.With["pulumi-version"], want)
	}
	last := j.Steps[len(j.Steps)-1]
	if len(j.Steps) != pulumiIdx+2 || last.If != "failure()" || !strings.Contains(last.Run, "gh issue create") ||
		last.Env["GH_TOKEN"] != "${{ github.token }}" {
		t.Errorf("the step after the preview must report a failure as an issue: %+v", last)
	}
}

// `make image` builds for the nodes' platform whatever the host (an arm64 laptop included).
func TestMakeImageBuildsForTheNodesPlatform(t *testing.T) {
	out, err := exec.Command("make", "-s", "-n", "-C", filepath.Join("..", ".."), "image").CombinedOutput()
	if err != nil {
		t.Fatalf("make -n image: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "docker build --platform 'linux/amd64' ") {
		t.Errorf("make image runs %q, want docker build --platform 'linux/amd64'", out)
	}
}

func toString(v any) string {
	s, _ := v.(string)
	return s
}

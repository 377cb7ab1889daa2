// Package ci checks the GitHub workflows: what triggers them, what they may do, and what they
// pass to the actions, so a broken preview pipeline fails `make test` rather than a pull request.
package ci

import (
	"maps"
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

// The image workflow is checked by running it, as far as it runs without GitHub: its expressions
// take the values a run for a release tag gives them, its scripts run under bash as on the runner
// (cosign replaced by a recorder), and its build inputs are compared with `make image`'s.
func TestImageWorkflow(t *testing.T) {
	w := load(t, "image.yml")
	if !reflect.DeepEqual(w.On, map[string]any{"push": map[string]any{"tags": []any{"v*"}}}) {
		t.Errorf("image must build on v* tags only, on: %v", w.On)
	}
	// id-token for workload identity and for cosign's Fulcio certificate, nothing else to write.
	wantPerms := map[string]string{"contents": "read", "id-token": "write"}
	if !reflect.DeepEqual(w.Permissions, wantPerms) {
		t.Errorf("permissions %v, want %v", w.Permissions, wantPerms)
	}
	j, ok := w.Jobs["image"]
	if !ok || len(w.Jobs) != 1 {
		t.Fatalf("want one job named image, got %v", w.Jobs)
	}
	if j.Permissions != nil {
		t.Errorf("job overrides the workflow permissions: %v", j.Permissions)
	}

	const (
		repository = "europe-west1-docker.pkg.dev/acme-prod/ctmd"
		tag        = "v9.8.7-rc.1"
		digest     = "sha256:4f1b3c2d5e6a7b8c9d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e"
	)
	r := newImageRun(t, w, repository, tag)

	_, auth := stepUsing(t, j, "google-github-actions/auth")
	if auth.With["token_format"] != "access_token" || auth.With["workload_identity_provider"] != "${{ secrets.GCP_WORKLOAD_IDENTITY_PROVIDER }}" {
		t.Errorf("auth with %v", auth.With)
	}
	// The registry comes from the stack's repository, so it follows gcp:zone.
	if w.Env["IMAGE_REPOSITORY"] != "${{ vars.IMAGE_REPOSITORY }}" || j.Steps[1].ID != "registry" ||
		!strings.Contains(j.Steps[1].Run, `echo "host=${IMAGE_REPOSITORY%%/*}" >> "$GITHUB_OUTPUT"`) {
		t.Errorf("the registry must be the host of the stack's imageRepository: env %v, step %+v", w.Env, j.Steps[1])
	}
	loginIdx, login := stepUsing(t, j, "docker/login-action")
	if login.With["registry"] != "${{ steps.registry.outputs.host }}" ||
		login.With["username"] != "oauth2accesstoken" || login.With["password"] != "${{ steps."+auth.ID+".outputs.access_token }}" {
		t.Errorf("docker login with %v", login.With)
	}

	checkoutIdx, _ := stepUsing(t, j, "actions/checkout")
	buildxIdx, _ := stepUsing(t, j, "docker/setup-buildx-action")
	buildIdx, build := stepUsing(t, j, "docker/build-push-action")
	if build.ID == "" {
		t.Fatal("the build step needs an id: the signature and the summary take its digest output")
	}
	if checkoutIdx > buildIdx || buildxIdx > buildIdx || loginIdx > buildIdx {
		t.Error("checkout, the buildx builder and the registry login must come before the build")
	}
	// The scripted steps before the build give it their outputs (the registry, versions.env's Go).
	for _, s := range j.Steps[:buildIdx] {
		if s.Run != "" && s.ID != "" {
			for k, v := range r.run(s, nil).outputs {
				r.values["steps."+s.ID+".outputs."+k] = v
			}
		}
	}
	if host := r.values["steps.registry.outputs.host"]; host != "europe-west1-docker.pkg.dev" {
		t.Errorf("registry host %q", host)
	}

	// What `make image` builds, for the same tag: its platform, build arguments and context.
	makeImage := makeImageCommand(t, repository+"/marketdata:"+tag, tag)
	goVersion, err := pins.Version("GO_VERSION")
	if err != nil {
		t.Fatal(err)
	}
	if makeImage.args["GO_VERSION"] != goVersion || makeImage.args["MARKETDATA_VERSION"] != tag {
		t.Errorf("make image passes %v, want GO_VERSION %s (versions.env) and MARKETDATA_VERSION %s", makeImage.args, goVersion, tag)
	}
	if args := buildArgs(t, r.expand(toString(build.With["build-args"]))); !reflect.DeepEqual(args, makeImage.args) {
		t.Errorf("the build passes build-args %v, make image %v", args, makeImage.args)
	}
	if build.With["platforms"] != makeImage.platform {
		t.Errorf("the build is for platforms %v, make image for %s", build.With["platforms"], makeImage.platform)
	}
	if build.With["context"] != makeImage.context || build.With["file"] != nil || build.With["target"] != nil {
		t.Errorf("the build must take make image's context %q with its Dockerfile, all stages: %v", makeImage.context, build.With)
	}
	// One version tag, never latest; pushed by the build itself, since attestations go with a push.
	if tags := strings.TrimSpace(r.expand(toString(build.With["tags"]))); tags != repository+"/marketdata:"+tag {
		t.Errorf("the build tags %q, want only %s/marketdata:<tag>", tags, repository)
	}
	if build.With["push"] != true || build.With["load"] != nil {
		t.Errorf("the build must push (and not load) the image, with %v", build.With)
	}
	if p := attrs(toString(build.With["provenance"])); p["mode"] != "max" || p["version"] != "v1" {
		t.Errorf("provenance %q, want mode=max,version=v1 (SLSA provenance v1 with the build's steps and arguments)", build.With["provenance"])
	}
	if build.With["sbom"] != true {
		t.Errorf("sbom %v, want true", build.With["sbom"])
	}
	for _, s := range j.Steps {
		for _, push := range []string{"docker push", "make push", "make -s push", "imagetools create", "latest"} {
			if strings.Contains(s.Run, push) {
				t.Errorf("a step runs %q: the build pushes the one version tag, nothing else does", push)
			}
		}
	}
	r.values["steps."+build.ID+".outputs.digest"] = digest

	// The digest is signed, keylessly (no key: the job's OIDC identity), once the build pushed it.
	installIdx, _ := stepUsing(t, j, "sigstore/cosign-installer")
	signIdx, sign := stepRunning(t, j, "cosign sign")
	if installIdx > signIdx || buildIdx > signIdx || sign.If != "" {
		t.Errorf("the signing must follow the cosign installer and the build, unconditionally: %+v", sign)
	}
	recorder := t.TempDir()
	if err := os.WriteFile(filepath.Join(recorder, "cosign"), []byte("#!/bin/sh\nprintf '%s\\n' \"$@\" > \"$COSIGN_ARGS\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	cosignArgs := filepath.Join(recorder, "args")
	r.run(sign, map[string]string{"PATH": recorder + ":" + os.Getenv("PATH"), "COSIGN_ARGS": cosignArgs})
	recorded, err := os.ReadFile(cosignArgs)
	if err != nil {
		t.Fatalf("the sign step ran no cosign: %v", err)
	}
	if got, want := strings.Fields(string(recorded)), []string{"sign", "--yes", repository + "/marketdata@" + digest}; !slices.Equal(got, want) {
		t.Errorf("the sign step runs cosign %q, want %q (by digest, never by tag)", got, want)
	}

	// The summary: the reference to release, who signed it, how to check that and where the
	// SBOM and the provenance are.
	summaryIdx, summary := stepRunning(t, j, "$GITHUB_STEP_SUMMARY")
	if summaryIdx < signIdx {
		t.Error("the summary must come after the signature it reports")
	}
	text := r.run(summary, nil).summary
	ref := repository + "/marketdata:" + tag + "@" + digest
	identity := "https://github.com/acme/ctmd/.github/workflows/image.yml@refs/tags/" + tag
	issuer := "https://token.actions.githubusercontent.com"
	for _, want := range [][]string{
		{"pulumi config set image", ref},
		{"cosign verify", "/marketdata@" + digest, "--certificate-identity", identity, "--certificate-oidc-issuer", issuer},
		{"docker buildx imagetools inspect", "/marketdata@" + digest, "{{ json .SBOM }}"},
		{"docker buildx imagetools inspect", "/marketdata@" + digest, "{{ json .Provenance }}"},
	} {
		if !slices.ContainsFunc(strings.Split(text, "\n"), func(line string) bool {
			return !slices.ContainsFunc(want, func(part string) bool { return !strings.Contains(line, part) })
		}) {
			t.Errorf("the summary has no line with %q:\n%s", want, text)
		}
	}
}

// imageRun is a run of the image workflow for a tag, as far as the test plays it: the values of
// the expressions its steps use, filled in as the steps give outputs.
type imageRun struct {
	t      *testing.T
	env    map[string]string
	values map[string]string // expression (the text inside ${{ }}) → value
}

func newImageRun(t *testing.T, w workflow, repository, tag string) *imageRun {
	r := &imageRun{t: t, env: map[string]string{}, values: map[string]string{
		"vars.IMAGE_REPOSITORY":                  repository,
		"github.ref_name":                        tag,
		"secrets.GCP_WORKLOAD_IDENTITY_PROVIDER": "provider",
		"secrets.GCP_SERVICE_ACCOUNT":            "image@acme-prod.iam.gserviceaccount.com",
	}}
	for k, v := range w.Env {
		r.env[k] = r.expand(v)
		r.values["env."+k] = r.env[k]
	}
	// What the runner sets for a tag push (docs.github.com/actions/reference/variables-reference).
	maps.Copy(r.env, map[string]string{
		"GITHUB_SERVER_URL":   "https://github.com",
		"GITHUB_REPOSITORY":   "acme/ctmd",
		"GITHUB_REF":          "refs/tags/" + tag,
		"GITHUB_REF_NAME":     tag,
		"GITHUB_WORKFLOW_REF": "acme/ctmd/.github/workflows/image.yml@refs/tags/" + tag,
	})
	return r
}

var expression = regexp.MustCompile(`\$\{\{\s*(.*?)\s*\}\}`)

// expand replaces each expression in s with its value in this run.
func (r *imageRun) expand(s string) string {
	r.t.Helper()
	return expression.ReplaceAllStringFunc(s, func(e string) string {
		v, ok := r.values[expression.FindStringSubmatch(e)[1]]
		if !ok {
			r.t.Errorf("%q: %s has no value in this run", s, e)
		}
		return v
	})
}

type stepResult struct {
	outputs map[string]string // written to $GITHUB_OUTPUT
	summary string            // written to $GITHUB_STEP_SUMMARY
}

// run runs a step's script as the runner does (bash -eo pipefail) from the repository's root,
// with the workflow's, GitHub's and the step's env, plus extra.
func (r *imageRun) run(s step, extra map[string]string) stepResult {
	r.t.Helper()
	// Values reach a script through env: spliced into it, a tag name could be shell code.
	if strings.Contains(s.Run, "${{") {
		r.t.Errorf("step %q splices an expression into its script; pass it through env", stepLabel(s))
	}
	dir := r.t.TempDir()
	output, summary := filepath.Join(dir, "output"), filepath.Join(dir, "summary")
	env := map[string]string{"PATH": os.Getenv("PATH"), "HOME": dir, "GITHUB_OUTPUT": output, "GITHUB_STEP_SUMMARY": summary}
	maps.Copy(env, r.env)
	for k, v := range s.Env {
		env[k] = r.expand(v)
	}
	maps.Copy(env, extra)
	cmd := exec.Command("bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", s.Run)
	cmd.Dir = filepath.Join("..", "..")
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		r.t.Fatalf("step %q: %v\n%s", stepLabel(s), err, out)
	}
	res := stepResult{outputs: map[string]string{}}
	if data, err := os.ReadFile(output); err == nil {
		for line := range strings.Lines(string(data)) {
			k, v, ok := strings.Cut(strings.TrimSuffix(line, "\n"), "=")
			if !ok {
				r.t.Errorf("step %q wrote %q to GITHUB_OUTPUT, not name=value", stepLabel(s), line)
			}
			res.outputs[k] = v
		}
	}
	if data, err := os.ReadFile(summary); err == nil {
		res.summary = string(data)
	}
	return res
}

// stepLabel names a step in messages: its id, or its script's first line.
func stepLabel(s step) string {
	if s.ID != "" {
		return s.ID
	}
	first, _, _ := strings.Cut(s.Run, "\n")
	return first
}

// stepRunning returns the index and step of the first step whose script contains text.
func stepRunning(t *testing.T, j job, text string) (int, step) {
	t.Helper()
	for i, s := range j.Steps {
		if strings.Contains(s.Run, text) {
			return i, s
		}
	}
	t.Fatalf("no step runs %q", text)
	return -1, step{}
}

type dockerBuild struct {
	platform, context string
	args              map[string]string
}

// makeImageCommand parses the docker build that `make image` runs for image and version.
func makeImageCommand(t *testing.T, image, version string) dockerBuild {
	t.Helper()
	out, err := exec.Command("make", "-s", "-n", "-C", filepath.Join("..", ".."), "image", "IMAGE="+image, "MARKETDATA_VERSION="+version).CombinedOutput()
	if err != nil {
		t.Fatalf("make -n image: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`^docker build --platform '([^']+)' ((?:--build-arg \S+ )*)-t '[^']+' (\S+)$`).FindStringSubmatch(strings.TrimSpace(string(out)))
	if m == nil {
		t.Fatalf("make image runs %q, not docker build --platform … --build-arg … -t … <context>", out)
	}
	return dockerBuild{platform: m[1], context: m[3], args: buildArgs(t, strings.ReplaceAll(m[2], "--build-arg ", "\n"))}
}

// buildArgs parses NAME=value lines (build-push-action's build-args), refusing a name twice.
func buildArgs(t *testing.T, lines string) map[string]string {
	t.Helper()
	args := map[string]string{}
	for _, line := range strings.Fields(lines) {
		k, v, _ := strings.Cut(line, "=")
		if _, dup := args[k]; dup {
			t.Errorf("build argument %s given twice", k)
		}
		args[k] = v
	}
	return args
}

// attrs parses a BuildKit attestation option, key=value pairs separated by commas.
func attrs(s string) map[string]string {
	m := map[string]string{}
	for _, kv := range strings.Split(s, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(kv), "=")
		m[k] = v
	}
	return m
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

// kstatus computes the kstatus status (sigs.k8s.io/cli-utils/pkg/kstatus/
// status.Compute, the library behind `kubectl`-style waiters such as Flux,
// kpt and cli-utils' apply) of each YAML object given, the way those tools
// read our custom resources.
//
// Usage: kstatus <file or dir>...
// A dir is walked for testdata/*.yaml. Each object prints one JSON line:
// {"path": ..., "status": "InProgress|Current|Failed|...", "message": ...};
// an unreadable object prints {"path": ..., "error": ...} and the exit code
// is 1.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/yaml"
)

type line struct {
	Path    string `json:"path"`
	Status  string `json:"status,omitempty"`
	Message string `json:"message,omitempty"`
	Error   string `json:"error,omitempty"`
}

func compute(path string) line {
	b, err := os.ReadFile(path)
	if err != nil {
		return line{Path: path, Error: err.Error()}
	}
	// decoded as kubectl and the API clients decode objects: integers
	// stay int64 (a plain yaml.Unmarshal makes them float64, which kstatus's
	// generation lookup rejects)
	j, err := yaml.YAMLToJSON(b)
	if err != nil {
		return line{Path: path, Error: err.Error()}
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(j); err != nil {
		return line{Path: path, Error: err.Error()}
	}
	res, err := status.Compute(u)
	if err != nil {
		return line{Path: path, Error: err.Error()}
	}
	return line{Path: path, Status: res.Status.String(), Message: res.Message}
}

func files(arg string) ([]string, error) {
	info, err := os.Stat(arg)
	if err != nil {
		return nil, err
	}
	if !info.IsDir() {
		return []string{arg}, nil
	}
	var out []string
	err = filepath.WalkDir(arg, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && filepath.Base(filepath.Dir(p)) == "testdata" && strings.HasSuffix(p, ".yaml") {
			out = append(out, p)
		}
		return nil
	})
	return out, err
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: kstatus <file or dir>...")
		os.Exit(2)
	}
	enc := json.NewEncoder(os.Stdout)
	failed := false
	for _, arg := range os.Args[1:] {
		paths, err := files(arg)
		if err != nil {
			paths, failed = nil, true
			_ = enc.Encode(line{Path: arg, Error: err.Error()})
		}
		for _, p := range paths {
			l := compute(p)
			failed = failed || l.Error != ""
			_ = enc.Encode(l)
		}
	}
	if failed {
		os.Exit(1)
	}
}

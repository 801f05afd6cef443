//go:build tools

// Package tools only names what build-prometheus.sh builds, so that go.mod
// and go.sum keep Prometheus and every module it needs.
package tools

import (
	_ "github.com/prometheus/prometheus/cmd/prometheus"
	_ "github.com/prometheus/prometheus/cmd/promtool"
)

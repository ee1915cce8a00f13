package connectors

import "testing"

func TestResultTotal(t *testing.T) {
	tests := []struct {
		r    Result
		want int64
	}{
		{Result{}, 0},
		{Result{Records: []Record{{Location: "crm.customers", Action: "found", Count: 1}, {Location: "crm.addresses", Action: "found", Count: 3}}}, 4},
	}
	for _, tt := range tests {
		if got := tt.r.Total(); got != tt.want {
			t.Errorf("Total() = %d, want %d", got, tt.want)
		}
	}
}

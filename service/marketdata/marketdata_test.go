package marketdata_test

import (
	"testing"

	"github.com/cryptotracker/ctmd/service/marketdata"
)

func TestValidSymbol(t *testing.T) {
	for s, want := range map[string]bool{
		"BTC": true, "btc": true, "X": true, "ABCDEFGHIJ": true, "1INCH": true,
		"": false, "ABCDEFGHIJK": false, "BT-C": false, "BT C": false, "É": false, "BTC\x00": false, "B/C": false,
	} {
		if got := marketdata.ValidSymbol(s); got != want {
			t.Errorf("ValidSymbol(%q) = %v, want %v", s, got, want)
		}
	}
}

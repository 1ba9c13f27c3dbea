package push

import "net/http"

func (h *activeSync) command(w http.ResponseWriter, r *http.Request, user string) {
	http.Error(w, "ActiveSync commands are not implemented yet", http.StatusNotImplemented)
}

package lifecycle

// keySites are the sites an incident key names (none when the key has no site label):
// a new incident is inside maintenance when all of them are.
func keySites(keyLabels map[string]string) []string {
	if s := keyLabels["site"]; s != "" {
		return []string{s}
	}
	return nil
}

// Placeholder: rows of this group land here.

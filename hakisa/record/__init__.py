"""Recording a person's play: the record loop and the input tracker."""

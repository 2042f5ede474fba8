"""VTK rendering of planner models inside Qt widgets (MPR slice views and the 3D scene)."""

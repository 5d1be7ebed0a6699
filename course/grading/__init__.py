"""Grading: a pytest plugin, a sandboxed worker for student code, and `course grade`.

The verdicts never come from the process that runs student code. A lab's autograder tests run in a
pytest process that imports neither TensorFlow nor the submission; they call the student's
functions through `Submission`, which runs them in a worker process and brings back only plain
data (NumPy arrays, numbers, strings) in a format that cannot carry code. What the student's code
patches, prints, or crashes stays in the worker.
"""

"""optorig's tests as a regular package.

Why a package: `sleap-io` (pulled in by `movement`, optorig[pose]) installs a top-level
`tests` package into site-packages, which shadows a namespace `tests` folder, so
`from tests.session.helpers import ...` failed once the pose extra was installed. A regular
package at the repository root is found first.
"""

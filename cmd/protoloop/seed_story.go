package main

// The demo the seed command plants: a community food bank trying out three
// small tools. It is written to show every part of the API with data that
// reads true: iterations that answer earlier feedback ("you said, we
// did"), every kind of feedback, every trial outcome, triage, votes and
// threads.

// story is a workspace and what happens in it. Its first person creates the
// workspace and owns it.
type story struct {
	name, slug, mission string
	headcount           int
	people              []person
	prototypes          []prototype
}

type person struct {
	key   string // how the rest of the story refers to them
	name  string
	email string
	role  string // MembershipRole; the first person is the owner
}

type prototype struct {
	maker                string // creates it, its iterations, and triages its feedback
	title, slug          string
	problem, missionLink string
	tags                 []string
	status               string // where it ends up: DRAFT, TESTING, ADOPTED or SHELVED
	iterations           []iteration
}

type iteration struct {
	title, changelog, url string
	draft                 bool     // left unpublished
	addresses             []string // keys of the earlier feedback it answers
	trials                []trial
	verdicts              []verdict // the authors' answers on the fixes, after the trials
}

// verdict is what the author of addressed feedback says of the fix.
type verdict struct {
	feedback, verdict, note string // feedback key; FIXED, PARTLY or NOT_FIXED
}

type trial struct {
	tester, task, device string
	outcome              string // COMPLETED, ABANDONED or BLOCKED; "" for a trial still going
	feedback             []feedback
}

type feedback struct {
	key             string // for a later iteration's addresses
	kind, body      string
	rating, minutes int      // 0: not given
	status          string   // where triage moves it after the trials: "" leaves it OPEN
	votes           []string // who says "me too"
	thread          []comment
}

// comment is one comment of a thread; the ones after the first reply to it.
type comment struct{ by, body string }

var demo = story{
	name: "Riverside Community Food Bank",
	slug: "demo",
	mission: "No household in the Riverside valley goes without food. We rescue surplus groceries and get them to " +
		"families quickly, with dignity, and without paperwork in the way.",
	headcount: 140, // staff and regular volunteers: whose time a tool could save
	people: []person{
		{key: "amara", name: "Amara Okafor", email: "amara@riverside-foodbank.example", role: "OWNER"},
		{key: "tomas", name: "Tomás Reyes", email: "tomas@riverside-foodbank.example", role: "MAKER"},
		{key: "priya", name: "Priya Nair", email: "priya@riverside-foodbank.example", role: "VIEWER"},
		{key: "dee", name: "Dolores Whitfield", email: "dee@riverside-foodbank.example", role: "VIEWER"},
		{key: "kwame", name: "Kwame Mensah", email: "kwame@riverside-foodbank.example", role: "VIEWER"},
		{key: "lucia", name: "Lucía Flores", email: "lucia@riverside-foodbank.example", role: "VIEWER"},
		{key: "hannah", name: "Hannah Berg", email: "hannah@riverside-foodbank.example", role: "VIEWER"},
	},
	prototypes: []prototype{shiftSignup, intakeForm, grantReport},
}

var shiftSignup = prototype{
	maker: "tomas",
	title: "Volunteer shift signup",
	slug:  "shift-signup",
	problem: "Volunteers sign up for sorting and distribution shifts by phoning the coordinator or replying to a " +
		"weekly group email. She copies the names into a spreadsheet by hand and spends Monday mornings chasing no-shows.",
	missionLink: "A fully staffed Saturday distribution gets about 300 more meals out the door, and every hour the " +
		"coordinator is not on the phone is an hour on the warehouse floor.",
	tags:   []string{"volunteers", "scheduling", "mobile"},
	status: "TESTING",
	iterations: []iteration{
		{
			title:     "Clickable week view",
			changelog: "A first clickable mock-up: this week's sorting and distribution shifts on one screen. Tap a shift, type your name and phone number, done. No accounts, no passwords.",
			url:       "https://shifts.riverside-foodbank.example/v1",
			trials: []trial{
				{tester: "dee", task: "Sign up for Saturday morning distribution", device: "Android phone, large text", outcome: "COMPLETED",
					feedback: []feedback{
						{key: "tiny-tabs", kind: "CONFUSION", rating: 3, status: "PLANNED", votes: []string{"priya", "lucia"},
							body: "The day tabs are too small for my thumbs. I signed up for Friday by mistake and could not see how to undo it.",
							thread: []comment{
								{"tomas", "Thanks, Dee. Was it the day tabs at the top or the Sign up button?"},
								{"dee", "The day tabs. Friday and Saturday sit right next to each other."},
							}},
						{key: "no-cancel", kind: "BUG", rating: 2, status: "PLANNED", votes: []string{"lucia"},
							body: "Once you have signed up there is no way to cancel. I had to phone Priya anyway."},
					}},
				{tester: "priya", task: "See who is coming to Tuesday sorting", device: "office laptop, Chrome", outcome: "COMPLETED",
					feedback: []feedback{
						{key: "copy-and-text", kind: "WORKAROUND", rating: 4, minutes: 40, status: "PLANNED",
							body: "Today I copy every name from the group emails into a spreadsheet and text reminders one by one. In a busy week that is 40 minutes a day."},
						{key: "reminders", kind: "IDEA", rating: 4, minutes: 25, status: "PLANNED", votes: []string{"dee", "amara"},
							body: "Text everyone a reminder the evening before their shift. Most no-shows simply forget."},
						{kind: "PRAISE", rating: 5, minutes: 15, status: "ACKNOWLEDGED",
							body: "Seeing every open shift of the week on one screen is already better than my spreadsheet."},
					}},
				{tester: "lucia", task: "Sign up for Wednesday sorting in Spanish", device: "iPhone SE", outcome: "ABANDONED",
					feedback: []feedback{
						{kind: "QUESTION", rating: 2, status: "ACKNOWLEDGED",
							body: "Is there a Spanish version? Half of the Wednesday crew would rather read Spanish, and I gave up halfway explaining it to them.",
							thread: []comment{
								{"tomas", "Not yet: it comes right after reminders. Would you check the translations with us?"},
								{"lucia", "¡Claro! Send them over."},
							}},
					}},
			},
		},
		{
			title:     "Reminders, cancelling and bigger buttons",
			changelog: "You said, we did: a text reminder goes out at 6 pm the evening before your shift, with a \"can't make it\" link that frees your spot. Day tabs and buttons are twice the size.",
			url:       "https://shifts.riverside-foodbank.example/v2",
			addresses: []string{"tiny-tabs", "no-cancel", "copy-and-text", "reminders"},
			// Priya has not answered about the reminders yet: it is still in
			// her pendingVerifications.
			verdicts: []verdict{
				{"tiny-tabs", "FIXED", "Big tabs now. No more Friday by mistake."},
				{"no-cancel", "FIXED", ""},
				{"copy-and-text", "PARTLY", "No more texting one by one. I still copy the names into the warehouse sheet on Mondays."},
			},
			trials: []trial{
				{tester: "dee", task: "Sign up for Saturday, then cancel Friday", device: "Android phone, large text", outcome: "COMPLETED",
					feedback: []feedback{
						{kind: "PRAISE", rating: 5, minutes: 10,
							body: "Much easier. I cancelled Friday straight from the reminder, no phone call needed."},
					}},
				{tester: "priya", task: "Run Monday without the spreadsheet", device: "office laptop, Chrome", outcome: "COMPLETED",
					feedback: []feedback{
						{kind: "IDEA", rating: 4, minutes: 20, status: "PLANNED", votes: []string{"amara", "dee"},
							body: "When a shift is full, let people join a waitlist and text them when a spot opens."},
						{kind: "BUG", rating: 3, status: "ACKNOWLEDGED",
							body: "Two volunteers got Thursday's reminder twice.",
							thread: []comment{
								{"tomas", "Found it: the reminder job ran on both servers. The fix is in the next version."},
							}},
					}},
				{tester: "kwame", task: "Sign up for my first shift", device: "Windows laptop, Firefox", outcome: "BLOCKED",
					feedback: []feedback{
						{kind: "BUG", rating: 1, status: "PLANNED", votes: []string{"lucia"},
							body: "The phone field rejects numbers written with spaces, like 555 0142 881, and does not say why. I could not finish."},
					}},
				{tester: "lucia", task: "Read the reminder text with the Wednesday crew", device: "iPhone SE",
					feedback: []feedback{
						{kind: "CONFUSION", rating: 3,
							body: "The reminder says \"shift\". Several Spanish-speaking volunteers asked me what it meant."},
					}},
			},
		},
		{
			title:     "Waitlist and Spanish",
			changelog: "Full shifts offer a waitlist; the whole site and the reminders in Spanish; phone numbers may have spaces and dashes.",
			url:       "https://shifts.riverside-foodbank.example/v3",
			draft:     true,
		},
	},
}

var intakeForm = prototype{
	maker: "amara",
	title: "Client intake form",
	slug:  "intake-form",
	problem: "New clients fill in a four-page paper form in the lobby, often in their second language. Caseworkers " +
		"then retype it into the county's system, sometimes twice when the handwriting is hard to read.",
	missionLink: "Dignity at the door: families get food on their first visit instead of after the paperwork, and " +
		"caseworkers spend their time with people, not with data entry.",
	tags:   []string{"intake", "accessibility", "multilingual"},
	status: "ADOPTED",
	iterations: []iteration{
		{
			title:     "Tablet form in the lobby",
			changelog: "The paper form on a lobby tablet: one question per screen, a progress bar, and the answers saved as a file the caseworker imports.",
			url:       "https://intake.riverside-foodbank.example/v1",
			trials: []trial{
				{tester: "kwame", task: "Register a walk-in family of five", device: "lobby iPad", outcome: "COMPLETED",
					feedback: []feedback{
						{key: "retyping", kind: "WORKAROUND", rating: 4, minutes: 60, status: "PLANNED",
							body: "At the end of each day I retype every paper form into the county system: 15 to 20 forms, about an hour."},
						{key: "lost-answers", kind: "BUG", rating: 2, status: "PLANNED", votes: []string{"lucia"},
							body: "Going back one screen wiped the answers on it. The client had to fill in the household section again."},
					}},
				{tester: "lucia", task: "Help a Spanish-speaking client register", device: "lobby iPad", outcome: "ABANDONED",
					feedback: []feedback{
						{key: "english-only", kind: "CONFUSION", rating: 2, status: "PLANNED", votes: []string{"kwame"},
							body: "The form is in English only. I translated every question out loud, which took longer than the paper form."},
						{kind: "QUESTION", status: "ACKNOWLEDGED",
							body: "Which questions does the county actually require? Clients ask why we need their income.",
							thread: []comment{
								{"amara", "Only household size and ZIP code. Income is optional, and the next version will say so on the screen."},
								{"lucia", "That will help a lot, thank you."},
							}},
					}},
				{tester: "dee", task: "Fill in the form as a client would", device: "lobby iPad", outcome: "COMPLETED",
					feedback: []feedback{
						{kind: "IDEA", rating: 4, minutes: 5, status: "DECLINED",
							body: "Print a receipt for the client with the date of their next pick-up.",
							thread: []comment{
								{"amara", "We have no printer in the lobby, and paper gets lost. A text message with the date would do the same; we will try that instead."},
							}},
					}},
			},
		},
		{
			title:     "Spanish and Dari, fewer questions",
			changelog: "You said, we did: the form speaks Spanish and Dari; answers stay when you go back; only household size and ZIP code are required, and the form says why it asks the rest; caseworkers import straight into the county system.",
			url:       "https://intake.riverside-foodbank.example/v2",
			addresses: []string{"retyping", "lost-answers", "english-only"},
			trials: []trial{
				{tester: "lucia", task: "Register a Spanish-speaking family", device: "lobby iPad", outcome: "COMPLETED",
					feedback: []feedback{
						{kind: "PRAISE", rating: 5, minutes: 20,
							body: "The client filled it in herself in four minutes. She said it was the first form here she understood completely."},
					}},
				{tester: "kwame", task: "Import the day's forms", device: "office PC", outcome: "COMPLETED",
					feedback: []feedback{
						{kind: "PRAISE", rating: 5, minutes: 55, votes: []string{"amara"},
							body: "Importing 18 forms took two minutes. That is my hour back."},
					}},
			},
		},
	},
}

var grantReport = prototype{
	maker: "tomas",
	title: "Grant report generator",
	slug:  "grant-report",
	problem: "Every quarter the grants manager spends two to three days pulling pounds distributed, households " +
		"served and volunteer hours out of three spreadsheets and into each funder's own template.",
	missionLink: "On-time reports keep the grants that pay for the refrigerated truck, and every day not spent on " +
		"reports is a day spent finding new donors.",
	tags:   []string{"reporting", "grants", "data"},
	status: "DRAFT",
	iterations: []iteration{
		{
			title:     "The quarter on one page",
			changelog: "Reads the distribution log, the volunteer sign-in sheet and the intake export, and shows the quarter's totals on one page, with a CSV download.",
			url:       "https://reports.riverside-foodbank.example/v1",
			trials: []trial{
				{tester: "hannah", task: "Draft the Q3 report for the county food programme", device: "office laptop", outcome: "COMPLETED",
					feedback: []feedback{
						{kind: "IDEA", rating: 4, minutes: 15, status: "PLANNED", votes: []string{"amara"},
							body: "Fill in the funders' own templates, not just a CSV: the county and the community foundation each want a different layout."},
						{kind: "BUG", rating: 2, status: "PLANNED",
							body: "Volunteer hours are counted twice when someone signs in twice on the same day.",
							thread: []comment{
								{"tomas", "Good catch. The next version counts one visit per person per day and shows the raw sign-ins beside it."},
								{"hannah", "Perfect, the foundation asks for both anyway."},
							}},
						{kind: "QUESTION", status: "ACKNOWLEDGED",
							body: "Can the numbers be broken down by ZIP code? The community foundation asks for it."},
					}},
				{tester: "amara", task: "Check the totals against last quarter's report", device: "laptop", outcome: "BLOCKED",
					feedback: []feedback{
						{kind: "CONFUSION", rating: 2, votes: []string{"hannah"},
							body: "The pounds distributed don't match our warehouse log. Is it counting rescued food that went to compost?"},
					}},
			},
		},
		{
			title:     "Funder templates",
			changelog: "Fills in the county's and the community foundation's templates; volunteer hours count one visit per person per day.",
			url:       "https://reports.riverside-foodbank.example/v2",
			draft:     true,
		},
	},
}
